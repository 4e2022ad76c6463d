"""`sla_sweep`: scheduled every minute by the worker; the rules are in models.sla."""

from __future__ import annotations

from datetime import datetime

from prefect import flow, get_run_logger

from models.db import Database
from models.settings import Settings
from models.sla import run_sweep


@flow(name="sla_sweep", log_prints=False)
def sla_sweep(now: datetime | None = None, database_url: str | None = None) -> dict[str, list[str]]:
    db = Database(database_url or Settings.load().database_url)
    try:
        report = run_sweep(db, now)
    finally:
        db.dispose()
    result = report.as_dict()
    get_run_logger().info("sla sweep: %s", {k: len(v) for k, v in result.items()})
    return result
