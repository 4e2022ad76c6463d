"""models.queues on the demo city: who sees which case in their queue, in what order, the counters, and the
queries around one case (duplicates, linked reports, dispatch units), each in a single statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from models.cases import Source
from models.commands import ActParams, act, create_case, get_case, get_category, get_user
from models.db import Database
from models.queues import (
    QueueFilter,
    case_signals,
    dispatch_units,
    district_path,
    merge_candidates,
    merged_into_this,
    merged_target,
    queue_counts,
    reviewer_queue,
)
from tests.ui.case_support import citizen_reports

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def opened(db: Database, place_of: str, at: datetime, code: str = "E0201", **fields: Any) -> str:
    with db.write() as s:
        return create_case(
            s,
            source=fields.pop("source", Source.CITIZEN),
            category=get_category(s, code),
            place=get_user(s, place_of).admin_unit,
            description="测试",
            actor="citizen:test",
            now=at,
            **fields,
        ).number


def do(db: Database, number: str, action: str, user: str, at: datetime, **params: Any) -> None:
    with db.write() as s:
        act(s, number, action, user, ActParams(**params), now=at)


def queue(db: Database, username: str, at: datetime, where: QueueFilter | None = None) -> list[str]:
    with db.read() as s:
        return [row.number for row in reviewer_queue(s, get_user(s, username), at, where)]


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def test_queue_is_the_reviewers_tier_and_unit(demo: Database) -> None:
    mine = opened(demo, "reviewer_village", T0)
    hedong = opened(demo, "reviewer_village_hedong", T0)
    township = opened(demo, "reviewer_village", T0, tier="township")
    closed = opened(demo, "reviewer_village", T0)
    do(demo, closed, "reject", "reviewer_village", T0, note="误报")
    now = T0 + timedelta(minutes=10)
    assert queue(demo, "reviewer_village", now) == [mine]
    assert queue(demo, "reviewer_village_hedong", now) == [hedong]
    assert queue(demo, "reviewer_township", now) == [township]
    assert queue(demo, "reviewer_township_hedong", now) == []
    assert queue(demo, "reviewer_city", now) == []
    for not_a_reviewer in ("inspector", "leader", "admin", "dispatcher"):
        assert queue(demo, not_a_reviewer, now) == []


def test_order_and_counters(demo: Database) -> None:
    due_later = opened(demo, "reviewer_village", T0 + timedelta(minutes=30))
    late = opened(demo, "reviewer_village", T0 - timedelta(hours=4))  # review due 3 h ago
    due_first = opened(demo, "reviewer_village", T0)
    extension = opened(demo, "reviewer_village", T0)
    do(demo, extension, "dispatch", "reviewer_village", T0)
    do(demo, extension, "acknowledge", "dispatcher_village", T0)
    do(demo, extension, "request_extension", "dispatcher_village", T0, note="材料", due=T0 + timedelta(days=9))
    ack_late = opened(demo, "reviewer_village", T0 - timedelta(hours=3))
    do(demo, ack_late, "dispatch", "reviewer_village", T0 - timedelta(hours=3))  # acknowledgement due 2 h ago
    do(demo, ack_late, "request_extension", "dispatcher_village", T0, note="材料", due=T0 + timedelta(days=9))
    fixed = opened(demo, "reviewer_village", T0)
    do(demo, fixed, "dispatch", "reviewer_village", T0)
    do(demo, fixed, "report_fixed", "dispatcher_village", T0)
    parked = opened(demo, "reviewer_village", T0 - timedelta(days=1))
    do(demo, parked, "park", "reviewer_village", T0, note="等待拆迁")
    now = T0 + timedelta(minutes=20)
    assert queue(demo, "reviewer_village", now) == [late, ack_late, due_first, due_later, extension, parked, fixed]
    with demo.read() as s:
        rows = reviewer_queue(s, get_user(s, "reviewer_village"), now)
        counts = queue_counts(s, get_user(s, "reviewer_village"), now)
    assert [r.late for r in rows] == [True, True, False, False, False, False, False]
    assert (
        rows[0].due == T0 - timedelta(hours=3)
        and rows[1].due == T0 - timedelta(hours=2)
        and rows[-2].due is None
        and rows[-1].due is None
    )
    assert rows[4].extension_until == T0 + timedelta(days=9) and rows[4].state == "acknowledged"
    assert (rows[0].category, rows[0].place, rows[0].source) == ("E0201", "兰山第一社区", "citizen")
    assert counts.reviewing == 3 and counts.overdue == 2 and counts.extensions == 2 and counts.to_verify == 1
    assert counts.due_soon == 2  # due_first and due_later (review due within 2 h); the others are late or far


def test_filters(demo: Database) -> None:
    citizen = opened(demo, "reviewer_village", T0)
    patrol = opened(demo, "reviewer_village", T0, code="E0101", source=Source.PATROL)
    now = T0 + timedelta(minutes=5)
    assert queue(demo, "reviewer_village", now, QueueFilter(source="patrol")) == [patrol]
    assert queue(demo, "reviewer_village", now, QueueFilter(category="E0201")) == [citizen]
    assert queue(demo, "reviewer_village", now, QueueFilter(number=patrol[-4:].lower())) == [patrol]
    assert queue(demo, "reviewer_village", now, QueueFilter(number="%")) == []  # a wildcard is a character
    assert queue(demo, "reviewer_village", now, QueueFilter(number="_")) == []
    assert queue(demo, "reviewer_village", now, QueueFilter(state="rectified")) == []


def test_a_long_queue_is_one_statement(demo: Database) -> None:
    for index in range(30):
        opened(demo, "reviewer_village", T0 + timedelta(minutes=index), code="E0201" if index % 2 else "E0101")
    with demo.read() as s:
        user = get_user(s, "reviewer_village")
        user.admin_unit  # noqa: B018 - load the user's unit before counting
        with statements(demo) as seen:
            rows = reviewer_queue(s, user, T0)
            [(r.category_name, r.place) for r in rows]
            queue_counts(s, user, T0)
    assert len(rows) == 30 and len(seen) == 2


def test_merge_candidates_are_near_same_category_open_and_in_scope(demo: Database) -> None:
    with demo.read() as s:
        place = get_user(s, "reviewer_village").admin_unit
        lat, lon = place.lat, place.lon
    here = opened(demo, "reviewer_village", T0, lat=lat, lon=lon)
    near = opened(demo, "reviewer_village", T0, lat=lat + 0.001, lon=lon)  # about 111 m north
    far = opened(demo, "reviewer_village", T0, lat=lat + 0.003, lon=lon)  # about 333 m
    other_kind = opened(demo, "reviewer_village", T0, code="E0101", lat=lat, lon=lon)
    done = opened(demo, "reviewer_village", T0, lat=lat, lon=lon)
    do(demo, done, "reject", "reviewer_village", T0, note="误报")
    with demo.read() as s:
        user = get_user(s, "reviewer_village")
        found = merge_candidates(s, user, get_case(s, here))
        assert [c.number for c in found] == [near]
        assert 100 < (found[0].distance_m or 0) < 125
        hedong = get_user(s, "reviewer_village_hedong")
        assert merge_candidates(s, hedong, get_case(s, here)) == []  # outside that reviewer's scope
    assert {far, other_kind} & {c.number for c in found} == set()


def test_merged_links_respect_the_scope(demo: Database) -> None:
    target = opened(demo, "reviewer_village", T0)
    duplicate = opened(demo, "reviewer_village", T0)
    do(demo, duplicate, "merge", "reviewer_village", T0, target=target)
    with demo.read() as s:
        village = get_user(s, "reviewer_village")
        assert [c.number for c in merged_into_this(s, village, get_case(s, target))] == [duplicate]
        assert merged_target(s, village, get_case(s, duplicate)).number == target  # type: ignore[union-attr]
        assert merged_target(s, village, get_case(s, target)) is None
        hedong = get_user(s, "reviewer_village_hedong")
        assert merged_into_this(s, hedong, get_case(s, target)) == []
        assert merged_target(s, hedong, get_case(s, duplicate)) is None


def test_dispatch_units_and_district(demo: Database) -> None:
    with demo.read() as s:
        assert dispatch_units(s, get_user(s, "reviewer_village")) == [("VC-371302001001", "兰山第一社区居民委员会")]
        township = dict(dispatch_units(s, get_user(s, "reviewer_township")))
        assert "GOV-371302001000" in township and "VC-371302001001" in township
        assert not any(code.startswith("DEPT-") for code in township)
        assert any(code.startswith("DEPT-") for code, _ in dispatch_units(s, get_user(s, "reviewer_city")))
        assert dispatch_units(s, get_user(s, "dispatcher")) == []
        place = get_user(s, "reviewer_village").admin_unit
        path = district_path(s, place.path)
        assert path is not None and place.path.startswith(path) and path.count("/") == 3


def test_case_signals_carry_no_reporter(demo: Database) -> None:
    (number,) = citizen_reports(demo.url, "reviewer_village", [{"phone_masked": "138****1234"}], T0)
    with demo.read() as s:
        (signal,) = case_signals(s, get_case(s, number))
    assert (signal.source, signal.type, signal.time, signal.status, signal.camera) == (
        "form",
        "report",
        T0,
        "cased",
        None,
    )
    assert not hasattr(signal, "fields") and not hasattr(signal, "raw")
