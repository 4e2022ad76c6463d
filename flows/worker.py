"""`xueliang worker`: serves the Prefect deployments (schedules and triggers) against the Prefect server named by
PREFECT_API_URL, and runs the low-latency intake loop beside them. Run several workers for more throughput:
signal batches are claimed with row locks (PostgreSQL) or the write lock (SQLite), never twice."""

from __future__ import annotations

from prefect import serve

from flows.intake import IntakeLoop, intake
from flows.sla import sla_sweep
from models.db import Database
from models.settings import Settings


def serve_all(settings: Settings) -> None:
    loop = IntakeLoop(Database(settings.database_url), settings.city_prefix)
    loop.start()
    params = {"database_url": settings.database_url}
    try:
        serve(
            sla_sweep.to_deployment(
                name="sla-sweep",
                interval=60,
                parameters=params,
                description="每分钟检查超时案卷：升级、督办、提醒 / every minute: escalate, supervise, remind",
            ),
            intake.to_deployment(
                name="intake-catch-up",
                interval=300,
                parameters=params,
                description="信号转案卷的定时补偿 / scheduled catch-up of signals into cases",
            ),
        )
    finally:
        loop.stop()
