"""`xueliang worker`: serves the Prefect deployments (schedules and triggers) against the Prefect server named by
PREFECT_API_URL. Run several workers for more throughput; each deployment run is independent."""

from __future__ import annotations

from prefect import serve

from flows.sla import sla_sweep
from models.settings import Settings


def serve_all(settings: Settings) -> None:
    sweep = sla_sweep.to_deployment(
        name="sla-sweep",
        interval=60,
        parameters={"database_url": settings.database_url},
        description="每分钟检查超时案卷：升级、督办、提醒 / every minute: escalate, supervise and remind what is late",
    )
    serve(sweep)
