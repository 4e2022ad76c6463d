"""The closed-case rollup keeps statistics exact: after every kind of change made through the commands (close,
rework, reopen and close again, reject), and after a rolled-back change, the figures from rollup + live open
cases equal the ones computed from case_file alone, for every grouping and scope, and the rollup equals one
rebuilt from scratch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.closed_rollup import ClosedRollup, rebuild
from models.commands import ActParams, act, get_user, patrol_case
from models.db import Database
from models.scope import scope_path
from models.stats import GROUPINGS, scan_statistics, statistics, trend
from tests.models.stats_support import AS_OF, add_known_cases

START = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
UNIT, DISPATCHER = "GOV-371302001000", "dispatcher"  # 兰山街道办事处 and its console account
USERS = ("leader", "reviewer_township", "reviewer_village", "reviewer_village_hedong", "admin")


def rollup_rows(db: Database) -> dict[tuple, tuple]:
    with db.read() as s:
        rows = s.execute(select(ClosedRollup)).scalars().all()
        return {
            (r.kind, r.day, r.key_id): (r.cases, r.on_time, r.rework, r.supervised, round(r.hours_sum, 6), r.hours_n)
            for r in rows
            if r.cases
        }


def assert_exact(db: Database) -> None:
    with db.read() as s:
        paths = [scope_path(get_user(s, name)) for name in USERS]
        for path in paths:
            for by in (None, *GROUPINGS):
                for window in ({}, {"date_from": START.date(), "date_to": START.date() + timedelta(days=3)}):
                    kwargs = {"by": by, "as_of": AS_OF + timedelta(days=30), "unit_path": path, **window}
                    assert statistics(s, **kwargs) == scan_statistics(s, **kwargs), (path, by, window)
    before = rollup_rows(db)
    with db.write() as s:
        rebuild(s.connection())
    assert rollup_rows(db) == before


def step(
    db: Database, number: str, action: str, user: str, at: datetime, note: str | None = None, unit: str | None = None
) -> None:
    with db.write() as s:
        act(s, number, action, user, ActParams(note=note, unit=unit), now=at)


@pytest.fixture
def worked(demo: Database) -> tuple[Database, list[str]]:
    """Known cases plus four patrol cases worked through the commands."""
    add_known_cases(demo)
    numbers = []
    for i in range(4):
        with demo.write() as s:
            place = get_user(s, "reviewer_village" if i % 2 else "reviewer_village_hedong").admin_unit
            numbers.append(
                patrol_case(
                    s,
                    username="inspector",
                    category_code="E0201",
                    lat=place.lat,
                    lon=place.lon,
                    description=f"测试 {i}",
                    now=START + timedelta(hours=i),
                ).number
            )
        step(demo, numbers[-1], "dispatch", "reviewer_city", START + timedelta(hours=i, minutes=10), unit=UNIT)
    return demo, numbers


def test_rollup_follows_every_change(worked: tuple[Database, list[str]]) -> None:
    db, (a, b, c, _still_open) = worked
    assert_exact(db)
    at = START + timedelta(hours=6)
    for number in (a, b, c):
        step(db, number, "report_fixed", DISPATCHER, at)
    step(db, a, "verify_pass", "inspector", at + timedelta(hours=1))
    step(db, b, "verify_fail", "inspector", at + timedelta(hours=1), note="未整改到位")
    step(db, b, "report_fixed", DISPATCHER, at + timedelta(hours=2))
    step(db, b, "verify_pass", "inspector", at + timedelta(days=9))  # reworked and late
    step(db, c, "verify_pass", "inspector", at + timedelta(hours=3))
    assert_exact(db)
    with db.read() as s:
        closed = statistics(s, as_of=AS_OF)["counts"]["closed"]
    step(db, c, "reopen", "reviewer_city", at + timedelta(days=1), note="群众再次反映")
    with db.read() as s:
        assert statistics(s, as_of=AS_OF)["counts"]["closed"] == closed - 1
    assert_exact(db)
    with db.read() as s:
        days = trend(s, "day", as_of=AS_OF)
    assert sum(r["closed"] for r in days) == closed - 1


def test_a_rolled_back_change_leaves_no_trace(worked: tuple[Database, list[str]]) -> None:
    db, (a, *_) = worked
    step(db, a, "report_fixed", DISPATCHER, START + timedelta(hours=6))
    before = rollup_rows(db)
    with pytest.raises(RuntimeError), db.write() as s:
        act(s, a, "verify_pass", "inspector", ActParams(), now=START + timedelta(hours=7))
        s.flush()
        raise RuntimeError("crash after the flush, before the commit")
    assert rollup_rows(db) == before
    assert_exact(db)
