"""`xueliang worker`: serves the Prefect deployments (schedules and event triggers) against the Prefect server
named by PREFECT_API_URL, and runs the low-latency loops (intake, outbox relay) beside them.

Run several workers for more throughput: signal batches and outbox rows are claimed with row locks
(PostgreSQL, SKIP LOCKED) or the write lock (SQLite), never twice.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron

from flows.dispatch import dispatch
from flows.evidence import evidence
from flows.intake import IntakeLoop, intake
from flows.relay import RelayLoop, outbox_relay
from flows.route import route
from flows.sla import sla_sweep
from flows.stats import stats
from flows.verify import verify
from models.db import Database
from models.settings import Settings

NOTICE_EVENTS = {
    "xueliang.case.dispatch",
    "xueliang.case.verify_fail",
    "xueliang.case.supervise",
    "xueliang.case.notice_backup",
}


def deployments(settings: Settings) -> list[RunnerDeployment]:
    params = {"database_url": settings.database_url}
    return [
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
        outbox_relay.to_deployment(
            name="outbox-relay-catch-up",
            interval=300,
            parameters=params,
            description="领域事件转发的定时补偿 / scheduled catch-up of the outbox relay",
        ),
        stats.to_deployment(
            name="daily-stats",
            schedules=[Cron("5 0 * * *", timezone="Asia/Shanghai")],
            parameters=params,
            description="每日统计快照，周一生成上周周报 / daily snapshot; the weekly bulletin on Mondays",
        ),
        evidence.to_deployment(
            name="evidence",
            parameters=params,
            triggers=[
                DeploymentEventTrigger(
                    name="keyframes, redacted clip and face count for a new camera case",
                    expect={"xueliang.case.create"},
                    match={"prefect.resource.id": "xueliang.case.*", "xueliang.case.source": "camera"},
                    parameters={"number": "{{ event.resource.id }}", **params},
                ),
                DeploymentEventTrigger(
                    name="blur the after photo a unit sent",
                    expect={"xueliang.case.report_fixed"},
                    match={"prefect.resource.id": "xueliang.case.*"},
                    parameters={"number": "{{ event.resource.id }}", **params},
                ),
            ],
            description="证据：关键帧、打码视频、人脸计数 / evidence: keyframes, redacted clip, face count",
        ),
        route.to_deployment(
            name="route",
            parameters=params,
            triggers=[
                DeploymentEventTrigger(
                    name="place a new case in its queue",
                    expect={"xueliang.case.create"},
                    match={"prefect.resource.id": "xueliang.case.*"},
                    parameters={"number": "{{ event.resource.id }}", **params},
                )
            ],
            description="新案卷进入审核队列并启动时限 / a new case into its queue, clocks started",
        ),
        verify.to_deployment(
            name="verify",
            parameters=params,
            triggers=[
                DeploymentEventTrigger(
                    name="before/after for the verifying inspector",
                    expect={"xueliang.case.report_fixed"},
                    match={"prefect.resource.id": "xueliang.case.*"},
                    parameters={"number": "{{ event.resource.id }}", **params},
                )
            ],
            description="整改前后对比 / before-after comparison for verification",
        ),
        dispatch.to_deployment(
            name="dispatch",
            interval=120,
            parameters=params,
            triggers=[
                DeploymentEventTrigger(
                    name="send notices when a case is dispatched, reworked or supervised",
                    expect=NOTICE_EVENTS,
                    match={"prefect.resource.id": "xueliang.case.*"},
                    parameters={"number": "{{ event.resource.id }}", **params},
                )
            ],
            description="发送派遣短信 / send dispatch notices",
        ),
    ]


def serve_all(settings: Settings) -> None:
    db = Database(settings.database_url)
    loops = [IntakeLoop(db, settings.city_prefix), RelayLoop(db, settings)]
    for loop in loops:
        loop.start()
    subscriber = None
    if settings.mqtt_url:
        from integrations.mqtt import FrigateSubscriber

        subscriber = FrigateSubscriber(db, settings.mqtt_url)
        subscriber.start()
    try:
        serve(*deployments(settings))
    finally:
        for loop in loops:
            loop.stop()
        if subscriber is not None:
            subscriber.stop()
