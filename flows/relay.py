"""The outbox relay: domain events -> idempotent handlers (notices) and Prefect events.

Prefect sees every case transition as an event named `xueliang.case.<action>` on the resource
`xueliang.case.<number>`; the event id is derived from the outbox row, so emitting twice is harmless. The
handlers' effects (notice rows) commit in the same transaction that marks the row processed, so a crash
anywhere means the row is handled again and its effects are recognised by their idempotency keys.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from prefect import flow, get_run_logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.evidence_page import evidence_link
from models.cases import Case, Outbox
from models.db import Database, utcnow
from models.notices import create_notices
from models.outbox import claim, complete, fail
from models.settings import Settings

EVENT_NAMESPACE = uuid.UUID("6d3c2f4e-5a1b-4c8e-9f70-2b8e1d4a7c90")
Emit = Callable[[Outbox], None]


@dataclass
class RelayReport:
    handled: int = 0
    failed: int = 0
    emitted: int = 0
    notices: list[int] = field(default_factory=list)


def _case(session: Session, row: Outbox) -> Case | None:
    return session.get(Case, row.case_id) if row.case_id is not None else None


def handle(session: Session, row: Outbox, settings: Settings, report: RelayReport) -> None:
    """The idempotent effects of one domain event."""
    case = _case(session, row)
    if case is None:
        return
    kind = None
    if row.topic == "case.dispatch":
        kind = "dispatch"
    elif row.topic == "case.verify_fail":
        kind = "rework"
    elif row.topic == "case.supervise" and (row.payload.get("data") or {}).get("remind_unit"):
        kind = "reminder"
    if kind is not None:
        link = evidence_link(settings, case.number)
        report.notices += create_notices(session, case, kind, f"outbox:{row.id}", link, settings.sms_provider)


def prefect_event(row: Outbox) -> None:
    from prefect.events import emit_event

    payload = row.payload
    number = payload.get("number", "")
    resource = {"prefect.resource.id": f"xueliang.case.{number}", "prefect.resource.name": number}
    source = (payload.get("data") or {}).get("source")
    if source:  # lets automations tell camera cases from others (the evidence trigger)
        resource["xueliang.case.source"] = str(source)
    emit_event(
        event=f"xueliang.case.{payload.get('action', row.topic.removeprefix('case.'))}",
        resource=resource,
        payload=payload,
        occurred=row.created_at,
        id=uuid.uuid5(EVENT_NAMESPACE, f"outbox-{row.id}"),
    )


def relay_once(
    db: Database, settings: Settings, emit: Emit | None = prefect_event, limit: int = 200, now: datetime | None = None
) -> RelayReport:
    report = RelayReport()
    with db.write() as session:
        for row in claim(session, limit, now):
            try:
                with session.begin_nested():
                    handle(session, row, settings, report)
                complete(row, now)
                report.handled += 1
            except Exception as exc:  # a handler failed: back off and retry this row later
                fail(row, repr(exc), now)
                report.failed += 1
    if emit is not None:
        report.emitted = emit_pending(db, emit, limit)
    return report


def emit_pending(db: Database, emit: Emit, limit: int = 200) -> int:
    with db.read() as session:
        rows = (
            session.execute(
                select(Outbox)
                .where(Outbox.processed_at.is_not(None), Outbox.emitted_at.is_(None))
                .order_by(Outbox.id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
    emitted = []
    for row in rows:
        try:
            emit(row)
        except Exception:  # Prefect unreachable: the rows stay unemitted and are tried on the next pass
            break
        emitted.append(row.id)
    if emitted:
        with db.write() as session:
            for row_id in emitted:
                row = session.get(Outbox, row_id)
                if row is not None and row.emitted_at is None:
                    row.emitted_at = utcnow()
    return len(emitted)


@flow(name="outbox_relay")
def outbox_relay(database_url: str | None = None) -> dict[str, int]:
    settings = Settings.load()
    db = Database(database_url or settings.database_url)
    total = RelayReport()
    try:
        while True:
            report = relay_once(db, settings)
            total.handled += report.handled
            total.failed += report.failed
            total.emitted += report.emitted
            total.notices += report.notices
            if report.handled + report.failed == 0:
                break
    finally:
        db.dispose()
    get_run_logger().info("relay: %d handled, %d failed, %d notices", total.handled, total.failed, len(total.notices))
    return {"handled": total.handled, "failed": total.failed, "emitted": total.emitted, "notices": len(total.notices)}


class RelayLoop(threading.Thread):
    """The worker's low-latency relay: every `idle` seconds, hand new domain events to their handlers."""

    def __init__(self, db: Database, settings: Settings, emit: Emit | None = prefect_event, idle: float = 0.5) -> None:
        super().__init__(name="outbox-relay", daemon=True)
        self.db, self.settings, self.emit, self.idle = db, settings, emit, idle
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                report = relay_once(self.db, self.settings, self.emit)
            except Exception as exc:  # the transaction rolled back; the same rows come again
                print(f"outbox relay: pass failed, will retry: {exc!r}", flush=True)
                self.stopped.wait(2.0)
                continue
            if report.handled + report.failed == 0:
                self.stopped.wait(self.idle)

    def stop(self) -> None:
        self.stopped.set()
