"""The closed loop on the demo city: every action's effect, its guards, history, outbox and conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from models.audit import verify_chains
from models.cases import Case, CaseEvent, Outbox, Source
from models.commands import ActParams, act, create_case, get_case, get_user, patrol_case
from models.db import Database
from models.errors import Conflict, Forbidden, IllegalAction, ValidationError
from models.taxonomy import Category
from models.workflow import ACTIONS, available_actions

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def category(session, name_part: str) -> Category:
    return session.execute(select(Category).where(Category.name.contains(name_part))).scalars().first()


def village_case(db: Database, user: str = "reviewer_village", at: datetime = T0) -> str:
    """A citizen report placed in the village of `user`, starting at village tier."""
    with db.write() as s:
        place = get_user(s, user).admin_unit
        case = create_case(
            s,
            source=Source.CITIZEN,
            category=category(s, "小广告"),
            place=place,
            description="电线杆上贴满小广告",
            actor="citizen:test",
            now=at,
        )
        return case.number


def city_patrol_case(db: Database, at: datetime = T0) -> str:
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        case = patrol_case(
            s,
            username="inspector",
            category_code=category(s, "暴露垃圾").code if category(s, "暴露垃圾") else category(s, "垃圾").code,
            lat=place.lat,
            lon=place.lon,
            description="路边垃圾堆放未清运",
            now=at,
        )
        return case.number


def do(db: Database, number: str, action: str, user: str, at: datetime, **params) -> Case:
    with db.write() as s:
        return act(s, number, action, user, ActParams(**params), now=at)


def history(db: Database, number: str) -> list[tuple[str, str]]:
    with db.read() as s:
        return [(e.action, e.actor) for e in get_case(s, number).events]


def snapshot(db: Database, number: str) -> tuple:
    with db.read() as s:
        case = get_case(s, number)
        events = s.scalar(select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case.id))
        outbox = s.scalar(select(func.count()).select_from(Outbox).where(Outbox.case_id == case.id))
        return case.state, case.tier, case.version, events, outbox


def test_patrol_case_full_loop_with_rework(demo: Database) -> None:
    number = city_patrol_case(demo)
    with demo.read() as s:
        case = get_case(s, number)
        assert (case.state, case.tier, case.source) == ("reviewing", "city", "patrol")
        assert case.registered_at is not None
        assert number.startswith("LY-20261125-")
    do(demo, number, "dispatch", "reviewer_city", hours(0.2), note="请兰山街道处置")
    with demo.read() as s:
        case = get_case(s, number)
        assert case.state == "dispatched" and case.responsible_unit is not None
        unit_code = case.responsible_unit.code
        assert case.ack_due is not None and case.rectify_due is not None and case.rectify_due > case.ack_due
    dispatcher = _dispatcher_of(demo, unit_code)
    do(demo, number, "acknowledge", dispatcher, hours(0.5))
    do(demo, number, "report_fixed", dispatcher, hours(5), note="已清运")
    do(demo, number, "verify_fail", "inspector", hours(6), note="仍有残留垃圾")
    with demo.read() as s:
        case = get_case(s, number)
        assert (case.state, case.rework_count) == ("dispatched", 1)
    do(demo, number, "report_fixed", dispatcher, hours(8), note="已彻底清理")
    final = do(demo, number, "verify_pass", "inspector", hours(9), note="核查通过")
    assert final.state == "closed" and final.closed_on_time is True
    assert [a for a, _ in history(demo, number)] == [
        "create",
        "dispatch",
        "acknowledge",
        "report_fixed",
        "verify_fail",
        "report_fixed",
        "verify_pass",
    ]
    state, _, version, events, outbox = snapshot(demo, number)
    assert state == "closed" and version == events == outbox == 7
    with demo.read() as s:
        assert verify_chains(s).ok


def _dispatcher_of(db: Database, unit_code: str) -> str:
    from models.org import ResponsibleUnit, User

    with db.read() as s:
        user = (
            s.execute(
                select(User)
                .join(ResponsibleUnit, User.responsible_unit_id == ResponsibleUnit.id)
                .where(ResponsibleUnit.code == unit_code)
            )
            .scalars()
            .first()
        )
        assert user is not None, f"the demo has no dispatcher for {unit_code}"
        return user.username


def test_village_case_escalates_to_city_then_rejected(demo: Database) -> None:
    number = village_case(demo)
    do(demo, number, "register", "reviewer_village", hours(0.1))
    do(demo, number, "escalate", "reviewer_village", hours(0.2), note="涉及多村，请镇里处理")
    do(demo, number, "escalate", "reviewer_township", hours(0.4), note="需市级协调")
    with pytest.raises(ValidationError):
        do(demo, number, "reject", "reviewer_city", hours(0.5))
    do(demo, number, "reject", "reviewer_city", hours(0.6), note="重复举报，已有案卷处理")
    with demo.read() as s:
        case = get_case(s, number)
        assert (case.state, case.tier) == ("rejected", "city")
        assert [(e.action, e.from_tier, e.to_tier) for e in case.events] == [
            ("create", None, "village"),
            ("register", "village", "village"),
            ("escalate", "village", "township"),
            ("escalate", "township", "city"),
            ("reject", "city", "city"),
        ]
        assert case.events[-1].note == "重复举报，已有案卷处理"


def test_illegal_actions_are_refused_and_write_nothing(demo: Database) -> None:
    number = village_case(demo)
    do(demo, number, "escalate", "reviewer_village", hours(0.1))
    before = snapshot(demo, number)
    with pytest.raises(Forbidden, match="township tier"):
        do(demo, number, "register", "reviewer_village", hours(0.2))
    with pytest.raises(Forbidden, match="scope"):
        do(demo, number, "register", "reviewer_township_hedong", hours(0.2))
    with pytest.raises(IllegalAction):
        do(demo, number, "acknowledge", "dispatcher", hours(0.2))
    with pytest.raises(Forbidden):
        do(demo, number, "dispatch", "leader", hours(0.2))
    assert snapshot(demo, number) == before

    closed = city_patrol_case(demo)
    do(demo, closed, "dispatch", "reviewer_city", hours(0.1))
    with demo.read() as s:
        dispatcher = _dispatcher_of(demo, get_case(s, closed).responsible_unit.code)
    do(demo, closed, "report_fixed", dispatcher, hours(1))
    do(demo, closed, "verify_pass", "inspector", hours(2))
    before = snapshot(demo, closed)
    with pytest.raises(IllegalAction, match="closed"):
        do(demo, closed, "dispatch", "reviewer_city", hours(3))
    with pytest.raises(ValidationError, match="unknown action"):
        do(demo, closed, "teleport", "reviewer_city", hours(3))
    assert snapshot(demo, closed) == before


def test_stale_version_is_a_conflict_naming_who_changed_it(demo: Database) -> None:
    number = village_case(demo)
    with demo.read() as s:
        seen = get_case(s, number).version
    do(demo, number, "register", "reviewer_village", hours(0.1), version=seen)
    with pytest.raises(Conflict) as info:
        do(demo, number, "escalate", "reviewer_village", hours(0.2), version=seen)
    assert "reviewer_village register" in info.value.en
    assert snapshot(demo, number)[2] == seen + 1


def test_return_extension_park_reopen_and_merge(demo: Database) -> None:
    number = city_patrol_case(demo)
    case = do(demo, number, "dispatch", "reviewer_city", hours(0.1))
    dispatcher = _dispatcher_of(demo, case.responsible_unit.code)
    do(demo, number, "return", dispatcher, hours(0.3), note="不属于本单位职责")
    with demo.read() as s:
        case = get_case(s, number)
        assert (case.state, case.responsible_unit_id, case.rectify_due) == ("reviewing", None, None)
    case = do(demo, number, "dispatch", "reviewer_city", hours(0.5))
    due = case.rectify_due
    with pytest.raises(ValidationError):
        do(demo, number, "request_extension", dispatcher, hours(1), note="材料未到", due=due - timedelta(hours=1))
    do(demo, number, "request_extension", dispatcher, hours(1), note="材料未到", due=due + timedelta(days=2))
    do(demo, number, "approve_extension", "reviewer_city", hours(1.5))
    with demo.read() as s:
        assert get_case(s, number).rectify_due == due + timedelta(days=2)
    do(demo, number, "request_extension", dispatcher, hours(2), note="再延", due=due + timedelta(days=5))
    do(demo, number, "refuse_extension", "reviewer_city", hours(2.5), note="不予延期")
    with demo.read() as s:
        case = get_case(s, number)
        assert case.rectify_due == due + timedelta(days=2) and case.extension_requested_until is None
        rectify_before_park = case.rectify_due
    do(demo, number, "park", "reviewer_city", hours(3), note="需专项资金，长期挂账")
    do(demo, number, "unpark", "reviewer_city", hours(27))
    with demo.read() as s:
        case = get_case(s, number)
        assert case.state == "dispatched"
        assert case.rectify_due == rectify_before_park + timedelta(hours=24)
    do(demo, number, "report_fixed", dispatcher, hours(30))
    do(demo, number, "verify_pass", "reviewer_city", hours(31))
    do(demo, number, "reopen", "reviewer_city", hours(40), note="群众再次反映")
    with demo.read() as s:
        case = get_case(s, number)
        assert (case.state, case.closed_at) == ("reviewing", None)

    first, second = village_case(demo), village_case(demo)
    do(demo, second, "merge", "reviewer_village", hours(1), target=first)
    with pytest.raises(ValidationError):
        do(demo, first, "merge", "reviewer_village", hours(1), target=first)
    with demo.read() as s:
        assert get_case(s, second).state == "merged"
        target = get_case(s, first)
        assert target.reporter_count == 2 and target.events[-1].action == "absorb"
        assert verify_chains(s).ok


def test_available_actions_follow_role_and_state(demo: Database) -> None:
    number = village_case(demo)
    with demo.read() as s:
        case = get_case(s, number)
        village = {a.name for a in available_actions(case, get_user(s, "reviewer_village"))}
        township = {a.name for a in available_actions(case, get_user(s, "reviewer_township"))}
        assert {"register", "escalate", "reject", "merge", "dispatch", "park"} <= village
        assert "acknowledge" not in village
        assert township == set()
    assert set(ACTIONS) >= {"register", "reopen", "approve_extension"}


def test_audit_detects_an_edited_and_a_removed_row(demo_url: str) -> None:
    db = Database(demo_url)
    number = city_patrol_case(db)
    do(db, number, "dispatch", "reviewer_city", hours(1), note="派遣")
    other = village_case(db)
    do(db, other, "register", "reviewer_village", hours(1))
    with db.read() as s:
        assert verify_chains(s).ok
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE case_event SET note = 'altered' WHERE seq = 2 AND case_id = "
                "(SELECT id FROM case_file WHERE number = :n)"
            ),
            {"n": number},
        )
        conn.execute(
            text("DELETE FROM case_event WHERE seq = 2 AND case_id = (SELECT id FROM case_file WHERE number = :n)"),
            {"n": other},
        )
    with db.read() as s:
        report = verify_chains(s)
    assert not report.ok
    assert {(b.case, b.seq) for b in report.broken} == {(number, 2), (other, 2)}
    db.dispose()


def test_sms_contacts_act_only_for_their_unit(demo: Database) -> None:
    from models.commands import act_as_contact
    from models.org import UnitContact

    number = city_patrol_case(demo)
    case = do(demo, number, "dispatch", "reviewer_city", hours(0.1))
    with demo.read() as s:
        own = s.execute(select(UnitContact).where(UnitContact.unit_id == case.responsible_unit_id)).scalars().first()
        other = s.execute(select(UnitContact).where(UnitContact.unit_id != case.responsible_unit_id)).scalars().first()
    with pytest.raises(Forbidden, match="registered contact"), demo.write() as s:
        act_as_contact(s, number, "acknowledge", other.id, now=hours(0.2))
    with pytest.raises(Forbidden, match="SMS contact cannot"), demo.write() as s:
        act_as_contact(s, number, "escalate", own.id, now=hours(0.2))
    with demo.write() as s:
        done = act_as_contact(s, number, "acknowledge", own.id, now=hours(0.3))
        assert done.state == "acknowledged" and done.events[-1].actor == f"sms:{own.name}"
    with pytest.raises(IllegalAction), demo.write() as s:
        act_as_contact(s, number, "acknowledge", own.id, now=hours(0.4))
