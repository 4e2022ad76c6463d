"""Leadership statistics on a hand-made set of cases with known answers (tests/models/stats_support.py), on each
database: headline, by district/township/village, category, responsible unit, day/week/month, rankings, trends,
the open-case map, and the viewer's scope."""

from __future__ import annotations

from datetime import date

import pytest

from models.db import Database
from models.errors import ValidationError
from models.stats import open_case_points, period_range, ranking, statistics, trend
from tests.models.stats_support import (
    AS_OF,
    CAT1,
    CAT2,
    GOV_JIUQU,
    GOV_LANSHAN,
    JIUQU,
    LANSHAN,
    VC_B,
    VILLAGE_A,
    VILLAGE_B,
    VILLAGE_C,
    add_known_cases,
)

NOVEMBER = {"date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30), "as_of": AS_OF}


@pytest.fixture
def known(demo: Database) -> Database:
    add_known_cases(demo)
    return demo


def brief(rows: list[dict]) -> dict[str, tuple]:
    return {
        r["key"]: (r["counts"]["total"], r["counts"]["due"], r["counts"]["closed"], r["closure_rate"],
                   r["on_time_closure_rate"], r["overdue"])
        for r in rows
    }  # fmt: skip


def test_headline_figures(known: Database) -> None:
    with known.read() as s:
        figures = statistics(s, **NOVEMBER)
    assert figures["counts"]["total"] == 6 and figures["counts"]["due"] == 5 and figures["counts"]["closed"] == 4
    assert figures["closure_rate"] == 0.8 and figures["on_time_closure_rate"] == 0.6
    assert figures["avg_handling_hours"] == 40.0
    assert figures["overdue"] == 1 and figures["rework"] == 1
    assert figures["counts"]["in_rectification"] == 2


def test_by_district_township_and_village(known: Database) -> None:
    with known.read() as s:
        districts = statistics(s, by="district", **NOVEMBER)["by"]
        townships = statistics(s, by="township", **NOVEMBER)["by"]
        villages = statistics(s, by="village", **NOVEMBER)["by"]
    assert {r["key"]: r["counts"]["total"] for r in districts} == {"371302000000": 5, "371312000000": 1}
    assert brief(townships) == {LANSHAN: (5, 4, 3, 0.75, 0.5, 1), JIUQU: (1, 1, 1, 1.0, 1.0, 0)}
    assert [r["name"] for r in townships] == ["兰山街道", "九曲街道"]
    assert brief(villages) == {
        VILLAGE_A: (3, 3, 3, 1.0, 0.6667, 0),
        VILLAGE_B: (2, 1, 0, 0.0, 0.0, 1),
        VILLAGE_C: (1, 1, 1, 1.0, 1.0, 0),
    }
    assert {r["key"]: r["avg_handling_hours"] for r in villages} == {VILLAGE_A: 50.0, VILLAGE_B: None, VILLAGE_C: 10.0}


def test_by_category_and_responsible_unit(known: Database) -> None:
    with known.read() as s:
        categories = statistics(s, by="category", **NOVEMBER)["by"]
        units = statistics(s, by="unit", **NOVEMBER)["by"]
    assert brief(categories) == {CAT1: (4, 4, 4, 1.0, 0.75, 0), CAT2: (2, 1, 0, 0.0, 0.0, 1)}
    assert categories[0]["name_en"]
    assert brief(units) == {
        GOV_LANSHAN: (3, 3, 3, 1.0, 0.6667, 0),
        VC_B: (2, 1, 0, 0.0, 0.0, 1),
        GOV_JIUQU: (1, 1, 1, 1.0, 1.0, 0),
    }


def test_periods_are_shanghai_days(known: Database) -> None:
    with known.read() as s:
        days = statistics(s, by="day", **NOVEMBER)["by"]
        weeks = statistics(s, by="week", **NOVEMBER)["by"]
        months = statistics(s, by="month", **NOVEMBER)["by"]
        october = statistics(s, date_from=date(2026, 10, 1), date_to=date(2026, 10, 31), as_of=AS_OF)
    assert {r["key"]: r["counts"]["total"] for r in days} == {
        "2026-11-01": 1,
        "2026-11-02": 1,
        "2026-11-03": 1,
        "2026-11-05": 1,
        "2026-11-10": 1,
        "2026-11-19": 1,
    }
    # weeks are keyed by their Monday: 1 November 2026 is a Sunday
    assert {r["key"]: r["counts"]["total"] for r in weeks} == {
        "2026-10-26": 1,
        "2026-11-02": 3,
        "2026-11-09": 1,
        "2026-11-16": 1,
    }
    assert [(r["key"], r["counts"]["total"]) for r in months] == [("2026-11", 6)]
    assert october["counts"]["total"] == 0


def test_trend_counts_opened_and_closed_per_period(known: Database) -> None:
    with known.read() as s:
        rows = trend(s, "day", **NOVEMBER)
        monthly = trend(s, "month", **NOVEMBER)
    by_day = {r["period"]: (r["opened"], r["closed"]) for r in rows}
    assert by_day["2026-11-01"] == (1, 1)  # T-7 opened and closed the same Shanghai day
    assert by_day["2026-11-03"] == (1, 1)  # T-2 opened, T-1 closed
    assert by_day["2026-11-07"] == (0, 1)  # T-2 closed
    assert by_day["2026-11-05"] == (1, 0)
    assert sum(o for o, _ in by_day.values()) == 6 and sum(c for _, c in by_day.values()) == 4
    assert monthly == [
        {"period": "2026-11", "opened": 6, "closed": 4, "closure_rate": 0.8, "on_time_closure_rate": 0.6}
    ]
    with known.read() as s, pytest.raises(ValidationError):
        trend(s, "hour", **NOVEMBER)


def test_rankings_of_townships_and_units(known: Database) -> None:
    with known.read() as s:
        townships = statistics(s, by="township", **NOVEMBER)["by"]
        units = statistics(s, by="unit", **NOVEMBER)["by"]
    by_rate = ranking(townships, "closure_rate")
    assert [(r["rank"], r["key"]) for r in by_rate["top"]] == [(1, JIUQU), (2, LANSHAN)]
    assert [r["key"] for r in by_rate["bottom"]] == [LANSHAN, JIUQU]
    assert [r["key"] for r in ranking(townships, "overdue")["top"]] == [JIUQU, LANSHAN]
    on_time = ranking(units, "on_time_closure_rate", count=1)
    assert [r["key"] for r in on_time["top"]] == [GOV_JIUQU] and [r["key"] for r in on_time["bottom"]] == [VC_B]
    with pytest.raises(ValidationError):
        ranking(units, "speed")


def test_scope_limits_every_figure(known: Database) -> None:
    with known.read() as s:
        from models.commands import get_user
        from models.scope import scope_path

        path = scope_path(get_user(s, "reviewer_village"))
        mine = statistics(s, by="category", unit_path=path, **NOVEMBER)
        points = open_case_points(s, unit_path=path, as_of=AS_OF)
        township = open_case_points(s, unit_path=scope_path(get_user(s, "reviewer_township")), as_of=AS_OF)
    assert mine["counts"]["total"] == 3 and mine["closure_rate"] == 1.0 and mine["on_time_closure_rate"] == 0.6667
    assert [(r["key"], r["counts"]["total"]) for r in mine["by"]] == [(CAT1, 3)]
    assert points == []
    assert [(p["number"], p["overdue"]) for p in township] == [("T-3", True), ("T-4", False)]


def test_map_points_are_capped_overdue_first(known: Database) -> None:
    with known.read() as s:
        points = open_case_points(s, as_of=AS_OF, limit=1)
    assert [p["number"] for p in points] == ["T-3"] and points[0]["lat"] is not None


def test_period_ranges() -> None:
    wednesday = date(2026, 11, 25)
    assert period_range("week", wednesday) == (date(2026, 11, 23), date(2026, 11, 29))
    assert period_range("month", wednesday) == (date(2026, 11, 1), date(2026, 11, 30))
    assert period_range("month", date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert period_range("year", wednesday) == (date(2026, 1, 1), date(2026, 12, 31))
