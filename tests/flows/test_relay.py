"""The outbox relay: at-least-once handling with idempotent effects, backoff, and Prefect event emission that
survives an unreachable Prefect (a stopped worker, a crash between handling and commit)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import flows.relay as relay
from models.cases import Notice, Outbox
from models.commands import ActParams, act, get_user, patrol_case
from models.db import Database
from models.settings import Settings

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SETTINGS = Settings.load(environ={})


def dispatched_case(db: Database) -> str:
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        number = patrol_case(
            s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="小广告", now=T0
        ).number
    with db.write() as s:
        act(s, number, "dispatch", "reviewer_city", ActParams(), now=T0 + timedelta(minutes=5))
    return number


def notices(db: Database) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Notice)))


def test_dispatch_makes_one_notice_per_primary_contact_once(demo: Database) -> None:
    dispatched_case(demo)
    first = relay.relay_once(demo, SETTINGS, emit=None)
    assert first.handled == 2 and len(first.notices) == 1
    with demo.read() as s:
        notice = s.get(Notice, first.notices[0])
        assert notice.kind == "dispatch" and notice.status == "pending" and "回复" in notice.body
    # the same domain event handled again (a crash after the handler, before the commit) adds nothing
    with demo.write() as s:
        for row in s.execute(select(Outbox)).scalars():
            row.processed_at = None
    again = relay.relay_once(demo, SETTINGS, emit=None)
    assert again.handled == 2 and again.notices == [] and notices(demo) == 1


def test_a_crash_inside_the_relay_transaction_loses_nothing(demo: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    dispatched_case(demo)
    real_complete = relay.complete

    def crash(row: Outbox, now: datetime | None = None) -> None:
        raise SystemExit("killed between the handler and the commit")

    monkeypatch.setattr(relay, "complete", crash)
    with pytest.raises(SystemExit):
        relay.relay_once(demo, SETTINGS, emit=None)
    assert notices(demo) == 0
    monkeypatch.setattr(relay, "complete", real_complete)
    assert len(relay.relay_once(demo, SETTINGS, emit=None).notices) == 1


def test_a_failing_handler_backs_off_and_is_retried(demo: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    dispatched_case(demo)
    monkeypatch.setattr(relay, "create_notices", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("db hiccup")))
    t1 = T0 + timedelta(minutes=10)
    report = relay.relay_once(demo, SETTINGS, emit=None, now=t1)
    assert report.failed == 1 and report.handled == 1
    with demo.read() as s:
        failed = s.execute(select(Outbox).where(Outbox.topic == "case.dispatch")).scalar_one()
        assert failed.processed_at is None and failed.attempts == 1 and "db hiccup" in failed.last_error
        assert failed.available_at > t1
    monkeypatch.undo()
    assert relay.relay_once(demo, SETTINGS, emit=None, now=t1).handled == 0  # backing off: not due yet
    assert len(relay.relay_once(demo, SETTINGS, emit=None, now=t1 + timedelta(minutes=1)).notices) == 1


def test_events_are_emitted_once_prefect_answers_with_stable_ids(demo: Database) -> None:
    number = dispatched_case(demo)
    seen: list[tuple[str, str]] = []

    def down(row: Outbox) -> None:
        raise ConnectionError("Prefect is not running")

    assert relay.relay_once(demo, SETTINGS, emit=down).emitted == 0
    with demo.read() as s:
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.emitted_at.is_(None))) == 2

    def up(row: Outbox) -> None:
        seen.append((row.topic, str(uuid.uuid5(relay.EVENT_NAMESPACE, f"outbox-{row.id}"))))

    assert relay.relay_once(demo, SETTINGS, emit=up).emitted == 2
    assert [t for t, _ in seen] == ["case.create", "case.dispatch"]
    assert relay.relay_once(demo, SETTINGS, emit=up).emitted == 0
    assert number


def test_prefect_event_names_the_case_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: dict[str, object] = {}
    monkeypatch.setattr("prefect.events.emit_event", lambda **kw: captured.update(kw))
    row = Outbox(
        id=7,
        topic="case.dispatch",
        payload={"number": "LY-20261125-0001", "action": "dispatch"},
        created_at=T0,
        available_at=T0,
    )
    relay.prefect_event(row)
    assert captured["event"] == "xueliang.case.dispatch"
    assert captured["resource"] == {
        "prefect.resource.id": "xueliang.case.LY-20261125-0001",
        "prefect.resource.name": "LY-20261125-0001",
    }
    assert captured["id"] == uuid.uuid5(relay.EVENT_NAMESPACE, "outbox-7")


def test_a_worker_stopped_for_an_hour_catches_up_without_double_notices(demo: Database) -> None:
    """With no relay and no sender for an hour, cases move and the sweep runs; when the worker returns (twice,
    as after a second crash) every transition is handled once and every notice is sent once."""
    from integrations.secrets import PhoneVault
    from integrations.sms import OutboxProvider, send_pending
    from models.sla import run_sweep

    numbers = [dispatched_case(demo) for _ in range(3)]
    run_sweep(demo, T0 + timedelta(hours=2))  # acknowledgement overdue for all three: supervision and reminders
    for _ in range(2):  # the worker comes back, crashes after relaying, comes back again
        relay.relay_once(demo, SETTINGS, emit=None, now=T0 + timedelta(hours=2, minutes=5))
        send_pending(demo, OutboxProvider(), PhoneVault("test-secret-key-not-for-production"))
    with demo.read() as s:
        kinds = sorted(s.execute(select(Notice.kind)).scalars())
        statuses = set(s.execute(select(Notice.status)).scalars())
        pending = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.processed_at.is_(None)))
    assert kinds == ["dispatch"] * 3 + ["reminder"] * 3
    assert statuses == {"stored"} and pending == 0
    assert len(numbers) == 3
