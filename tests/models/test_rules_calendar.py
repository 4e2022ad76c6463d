"""Versioned routing-rule edits and the working-time calendar behind SLA deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from models.calendar import CalendarDay, WorkCalendar
from models.cases import Source
from models.commands import create_case, get_case, get_category, get_user
from models.db import Database
from models.errors import Forbidden, ValidationError
from models.rules import active_rule, edit_rule

# Wednesday 2026-11-25 10:00 in Shanghai
WED_10 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def shanghai(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def test_working_hours_skip_lunch_nights_and_weekends() -> None:
    cal = WorkCalendar()
    assert cal.add_hours(WED_10, 1) == shanghai(2026, 11, 25, 11)
    assert cal.add_hours(WED_10, 3) == shanghai(2026, 11, 25, 14, 30)  # 10-12, lunch, 13:30-14:30
    friday_5pm = shanghai(2026, 11, 27, 17)
    assert cal.add_hours(friday_5pm, 1) == shanghai(2026, 11, 30, 9)  # 17:00-17:30, then Monday 08:30-09:00
    saturday = shanghai(2026, 11, 28, 10)
    assert cal.add_hours(saturday, 0.5) == shanghai(2026, 11, 30, 9)


def test_working_days_honour_holidays_and_swapped_days() -> None:
    plain = WorkCalendar()
    assert plain.add_days(WED_10, 2) == shanghai(2026, 11, 27, 17, 30)  # Thu, Fri
    assert plain.add_days(WED_10, 3) == shanghai(2026, 11, 30, 17, 30)  # skips the weekend
    holiday = WorkCalendar({date(2026, 11, 26): False, date(2026, 11, 28): True})
    assert holiday.add_days(WED_10, 2) == shanghai(2026, 11, 28, 17, 30)  # Thu off, Fri, Sat (调休) on


def test_edits_are_versioned_and_cases_keep_their_rule(demo: Database) -> None:
    with demo.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        before = create_case(
            s,
            source=Source.CITIZEN,
            category=get_category(s, "E0201"),
            place=place,
            description="a",
            actor="t",
            now=WED_10,
        )
        old_rule = before.routing_rule
        assert old_rule.key == "cat-E0201" and old_rule.rectify_working_days == 2
    with demo.write() as s:
        with pytest.raises(Forbidden):
            edit_rule(s, "cat-E0201", {"rectify_working_days": 5}, "reviewer_city")
        with pytest.raises(ValidationError):
            edit_rule(s, "cat-E0201", {"ack_hours": -1}, "admin")
    with demo.write() as s:
        new = edit_rule(s, "cat-E0201", {"rectify_working_days": 5, "calendar": "working"}, "admin", now=WED_10)
        assert (new.version, new.created_by) == (old_rule.version + 1, "admin")
    with demo.write() as s:
        assert active_rule(s, "cat-E0201").version == new.version
        assert get_case(s, before.number).routing_rule.version == old_rule.version
        after = create_case(
            s,
            source=Source.CITIZEN,
            category=get_category(s, "E0201"),
            place=get_user(s, "reviewer_village").admin_unit,
            description="b",
            actor="t",
            now=WED_10,
        )
        assert after.routing_rule.version == new.version
        # the new rule counts review time in working hours: 1 h after Wednesday 10:00 is 11:00
        assert after.review_due == shanghai(2026, 11, 25, 11)


def test_holiday_rows_move_rectification_deadlines(demo: Database) -> None:
    from models.commands import ActParams, act, patrol_case

    with demo.write() as s:
        s.add(CalendarDay(day=date(2026, 11, 26), working=False, name="演示假日"))
    with demo.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        case = patrol_case(
            s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="x", now=WED_10
        )
    with demo.write() as s:
        case = act(s, case.number, "dispatch", "reviewer_city", ActParams(), now=WED_10)
        assert case.rectify_due == shanghai(2026, 11, 30, 17, 30)  # 2 working days: Fri 27th, Mon 30th


def test_a_case_opened_without_a_matching_rule_is_routed_later(demo: Database) -> None:
    from sqlalchemy import update

    from models.commands import route_case
    from models.taxonomy import RoutingRule

    with demo.write() as s:
        s.execute(update(RoutingRule).values(active=False))
    with demo.write() as s:
        case = create_case(
            s,
            source=Source.CITIZEN,
            category=get_category(s, "E0201"),
            place=get_user(s, "reviewer_village").admin_unit,
            description="a",
            actor="t",
            now=WED_10,
        )
        assert case.routing_rule_id is None and case.review_due is not None
        assert route_case(s, case.number, now=WED_10) is False  # default clock running; nothing to place yet
    with demo.write() as s:
        s.execute(update(RoutingRule).where(RoutingRule.key == "cat-E0201").values(active=True))
        s.execute(update(type(case)).values(review_due=None))
    with demo.write() as s:
        assert route_case(s, case.number, now=WED_10) is True
        assert route_case(s, case.number, now=WED_10) is False
        routed = get_case(s, case.number)
        assert routed.routing_rule.key == "cat-E0201" and routed.events[-1].action == "route"
