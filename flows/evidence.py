"""`evidence`: a case's keyframes, contact sheet, redacted clip and face count, made by
integrations/evidence_pipeline.py when a camera case is created (the `xueliang.case.create` event)."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from integrations.evidence_pipeline import process_case_evidence
from models.db import Database
from models.settings import Settings

log = logging.getLogger("xueliang.evidence")


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        from prefect import get_run_logger

        return get_run_logger()
    except Exception:  # called outside a flow run (tests, scripts)
        return log


@flow(name="evidence")
def evidence(
    number: str, clip_url: str | None = None, at: str | None = None, database_url: str | None = None
) -> dict[str, Any]:
    """Keyframes, contact sheet, redacted clip and face count for one case (see process_case_evidence). An event
    trigger passes the resource id `xueliang.case.<number>`."""
    settings = Settings.load()
    number = number.removeprefix("xueliang.case.")
    db = Database(database_url or settings.database_url)
    try:
        report = process_case_evidence(db, settings, number, clip_url, at)
    finally:
        db.dispose()
    _logger().info(
        "evidence %s: %d items, %d failed, faces %s", number, len(report.items), len(report.failed), report.face_count
    )
    return report.as_dict()
