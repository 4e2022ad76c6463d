"""Demo cases: a few weeks of work already done, so that every demo account finds its job waiting in the console.

Everything goes through the same commands as real work (create_cases, act, act_as_contact), at past instants, so
histories, deadlines, chains and statistics are all genuine. Units without a console account answer by SMS, as
they would (act_as_contact). Only run into an empty case table (the demo's first start).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from models.cases import Case, Outbox, Source, State
from models.commands import ActParams, NewCase, act, act_as_contact, create_cases, get_category
from models.db import utcnow
from models.org import AdminUnit, Camera, Level, ResponsibleUnit, UnitContact
from models.seed_data import DEMO_TOWNSHIP, DEMO_VILLAGE, committee_code, government_code

# (category, description) pairs the demo's findings are drawn from
FINDINGS: tuple[tuple[str, str], ...] = (
    ("E0101", "路边暴露垃圾未清运"),
    ("E0201", "电线杆上张贴非法小广告"),
    ("E0501", "机动车占用人行道停放"),
    ("C0101", "井盖破损，存在安全隐患"),
    ("C0102", "路灯不亮"),
    ("E0302", "工地未覆盖，扬尘明显"),
    ("E0401", "雨后道路积水"),
    ("C0301", "垃圾箱破损"),
)


def _unit(session: Session, code: str) -> AdminUnit:
    return session.execute(select(AdminUnit).where(AdminUnit.code == code)).scalar_one()


def _primary_contact(session: Session, unit_code: str) -> int:
    unit = session.execute(select(ResponsibleUnit).where(ResponsibleUnit.code == unit_code)).scalar_one()
    return session.execute(
        select(UnitContact.id).where(UnitContact.unit_id == unit.id).order_by(UnitContact.priority).limit(1)
    ).scalar_one()


def _open(
    session: Session, place: AdminUnit, code: str, text: str, at: datetime, source: Source, tier: str | None = None
) -> Case:
    camera = session.execute(select(Camera).where(Camera.unit_id == place.id).limit(1)).scalar_one_or_none()
    item = NewCase(
        source=source,
        category=get_category(session, code),
        place=place,
        description=text,
        actor="demo-camera" if source is Source.CAMERA and camera else "demo-hotline",
        camera=camera if source is Source.CAMERA else None,
        tier=tier,
    )
    return create_cases(session, [item], now=at)[0]


def seed_demo_cases(session: Session, now: datetime | None = None, seed: int = 7) -> int:
    """Open and work the demo's cases; returns how many were opened (0 when cases exist already)."""
    if session.execute(select(func.count()).select_from(Case)).scalar_one():
        return 0
    now = now or utcnow()
    rng = random.Random(seed)
    village = _unit(session, DEMO_VILLAGE)
    township = _unit(session, DEMO_TOWNSHIP)
    opened = 0

    # Waiting for the village reviewer: a camera alarm and a citizen report of the same problem nearby.
    for source, hours in ((Source.CAMERA, 3), (Source.CITIZEN, 1)):
        _open(session, village, "E0101", "路边暴露垃圾未清运", now - timedelta(hours=hours), source, "village")
        opened += 1

    # Waiting for the township reviewer: escalated by the village.
    case = _open(session, village, "E0301", "小区内疑似违法搭建", now - timedelta(hours=20), Source.CITIZEN, "village")
    act(session, case.number, "escalate", "reviewer_village", ActParams(note="需街道协调"), now - timedelta(hours=18))
    opened += 1

    # Waiting for the township's dispatcher: dispatched to the street office, not yet acknowledged.
    case = _open(
        session, village, "C0101", "井盖破损，存在安全隐患", now - timedelta(hours=30), Source.CAMERA, "village"
    )
    act(session, case.number, "escalate", "reviewer_village", None, now - timedelta(hours=29))
    act(
        session,
        case.number,
        "dispatch",
        "reviewer_township",
        ActParams(unit=government_code(DEMO_TOWNSHIP)),
        now - timedelta(hours=26),
    )
    opened += 1

    # Waiting for verification by the inspectors: fixed by the community committee, with its SMS reply.
    case = _open(session, village, "E0201", "电线杆上张贴非法小广告", now - timedelta(days=2), Source.CAMERA, "village")
    act(
        session,
        case.number,
        "dispatch",
        "reviewer_village",
        ActParams(unit=committee_code(DEMO_VILLAGE)),
        now - timedelta(days=2) + timedelta(hours=1),
    )
    contact = _primary_contact(session, committee_code(DEMO_VILLAGE))
    act_as_contact(session, case.number, "acknowledge", contact, None, now - timedelta(days=1, hours=20))
    act_as_contact(session, case.number, "report_fixed", contact, None, now - timedelta(hours=5))
    opened += 1

    # Eight weeks of city-wide history for the dashboard: raised at city tier by the civilization office,
    # dispatched to each township's office, answered by SMS, verified by the city inspector.
    villages = (
        session.execute(select(AdminUnit).where(AdminUnit.level == Level.VILLAGE.value).order_by(AdminUnit.code))
        .scalars()
        .all()
    )
    parents = {u.id: u for u in session.execute(select(AdminUnit)).scalars()}
    for _ in range(60):
        place = rng.choice(villages)
        office = parents[place.parent_id] if place.parent_id else township
        code, text = rng.choice(FINDINGS)
        start = now - timedelta(days=rng.uniform(3, 56))
        case = _open(session, place, code, text, start, Source.PATROL, tier="city")
        at = start + timedelta(hours=rng.uniform(0.5, 6))
        act(session, case.number, "dispatch", "reviewer_city", ActParams(unit=government_code(office.code)), at)
        contact = _primary_contact(session, government_code(office.code))
        fate = rng.random()
        if fate < 0.1:  # still waiting for the unit: overdue by now
            opened += 1
            continue
        at += timedelta(hours=rng.uniform(0.5, 20))
        act_as_contact(session, case.number, "acknowledge", contact, None, at)
        at += timedelta(days=rng.uniform(0.5, 6))
        if at >= now - timedelta(hours=1):
            opened += 1
            continue
        act_as_contact(session, case.number, "report_fixed", contact, None, at)
        at += timedelta(hours=rng.uniform(1, 24))
        if fate < 0.25 and at < now - timedelta(days=1):  # rework once
            act(session, case.number, "verify_fail", "inspector", ActParams(note="复查仍未整改到位"), at)
            at += timedelta(days=rng.uniform(0.5, 3))
            act_as_contact(session, case.number, "report_fixed", contact, None, min(at, now - timedelta(hours=2)))
            at = min(at + timedelta(hours=2), now - timedelta(hours=1))
        if at < now - timedelta(hours=1):
            act(session, case.number, "verify_pass", "inspector", None, at)
        opened += 1

    # History is history: its outbox rows are marked emitted, so starting the worker replays none of it. Only the
    # dispatches still waiting for their unit go out as live work would (their SMS notices).
    waiting = select(Case.id).where(Case.state == State.DISPATCHED.value)
    session.execute(
        update(Outbox).where(~and_(Outbox.topic == "case.dispatch", Outbox.case_id.in_(waiting))).values(emitted_at=now)
    )
    return opened
