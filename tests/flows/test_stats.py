"""Daily statistics snapshots and the weekly XLSX bulletin."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from flows.stats import run_stats
from integrations.bulletin import weekly_bulletin
from models.commands import ActParams, act, get_user, patrol_case
from models.db import Database
from models.rollups import StatsSnapshot

MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def closed_case(db: Database, at: datetime) -> str:
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        number = patrol_case(
            s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="x", now=at
        ).number
    with db.write() as s:
        case = act(s, number, "dispatch", "reviewer_city", ActParams(), now=at + timedelta(minutes=10))
        unit = case.responsible_unit_id
    from models.org import User

    with db.read() as s:
        dispatcher = s.execute(select(User.username).where(User.responsible_unit_id == unit)).scalar_one()
    for action, user, hours in (("report_fixed", dispatcher, 3), ("verify_pass", "inspector", 4)):
        with db.write() as s:
            act(s, number, action, user, ActParams(), now=at + timedelta(hours=hours))
    return number


def test_snapshots_are_idempotent_and_the_bulletin_ranks_units(demo: Database, tmp_path) -> None:
    closed_case(demo, MONDAY)
    closed_case(demo, MONDAY + timedelta(days=1))
    result = run_stats(demo, str(tmp_path), now=MONDAY + timedelta(days=1, hours=8))
    assert result["snapshots"] == 8
    run_stats(demo, str(tmp_path), now=MONDAY + timedelta(days=1, hours=9))
    with demo.read() as s:
        rows = s.execute(select(StatsSnapshot).where(StatsSnapshot.grouping == "all")).scalars().all()
        assert sorted(r.day for r in rows) == [date(2026, 11, 23), date(2026, 11, 24)]
        assert all(r.figures["counts"]["closed"] == 1 and r.figures["closure_rate"] == 1.0 for r in rows)
    out = tmp_path / "bulletin.xlsx"
    info = weekly_bulletin(demo, date(2026, 11, 23), out)
    assert info == {"week": "2026-W48", "path": str(out), "cases": 2}
    book = load_workbook(out)
    assert book.sheetnames == ["概况", "责任单位排名", "问题类别"]
    assert "2026年第48周" in book["概况"]["A1"].value
    units = list(book["责任单位排名"].iter_rows(values_only=True))
    assert units[0][:3] == ("排名", "名称", "代码") and units[1][0] == 1 and units[1][5] == 2


def test_on_monday_the_previous_week_bulletin_is_written(demo: Database, tmp_path) -> None:
    closed_case(demo, MONDAY - timedelta(days=3))
    result = run_stats(demo, str(tmp_path), now=MONDAY)
    bulletin = result["bulletin"]
    assert bulletin["week"] == "2026-W47" and bulletin["cases"] == 1
