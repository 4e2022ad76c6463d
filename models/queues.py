"""The reviewer's work, as queries: the tier queue with its counters, and what the case page shows around one case
(linked reports, merge candidates, the units a reviewer may dispatch to).

Every query is limited by models.scope and selects plain columns with the category and place joined in, so a
page of cases costs one statement, whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, null, or_, select
from sqlalchemy.orm import Session

from models.cases import OPEN_STATES, Case, Signal, State
from models.org import AdminUnit, Camera, Level, ResponsibleUnit, Role, User
from models.routing import haversine_m, path_ids
from models.scope import case_scope
from models.taxonomy import Category
from models.workflow import user_tier

# A deadline closer than this counts as "due soon" (即将超期) in the queue's counters.
DUE_SOON = timedelta(hours=2)
# Open cases of the same category closer than this are offered as merge targets (the intake's duplicate radius
# is 50 m for citizens' reports; a reviewer looking at a photo can judge a wider circle).
MERGE_RADIUS_M = 200.0
QUEUE_LIMIT = 500

# The deadline of the stage a case is in: review while reviewing, acknowledgement then rectification once
# dispatched. Rectified and parked cases have none (verification has no clock; parking stops it).
STAGE_DUE = case(
    (Case.state == State.REVIEWING.value, Case.review_due),
    (Case.state == State.DISPATCHED.value, func.coalesce(Case.ack_due, Case.rectify_due)),
    (Case.state == State.ACKNOWLEDGED.value, Case.rectify_due),
    else_=null(),
)


def _late(now: datetime) -> ColumnElement[bool]:
    """Overdue: flagged by the SLA sweep, or its stage's deadline has passed (the sweep may not have run yet)."""
    return or_(Case.overdue.is_(True), and_(STAGE_DUE.is_not(None), STAGE_DUE < now))


def queue_condition(user: User) -> ColumnElement[bool]:
    """The cases waiting on `user` as a reviewer: at their tier, inside their unit, and either to review, with an
    extension request to decide, rectified and awaiting verification, or parked (parking stops the clock but
    the case stays theirs)."""
    tier = user_tier(user)
    if user.role != Role.REVIEWER or tier is None:
        return false()
    waiting = or_(
        Case.state.in_([State.REVIEWING.value, State.RECTIFIED.value, State.PARKED.value]),
        and_(
            Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value]),
            Case.extension_requested_until.is_not(None),
        ),
    )
    return and_(case_scope(user), Case.tier == tier.value, waiting)


@dataclass(frozen=True)
class QueueRow:
    number: str
    category: str
    category_name: str
    category_name_en: str
    place: str
    source: str
    state: str
    tier: str
    due: datetime | None  # the deadline of the stage the case is in
    late: bool  # overdue: flagged, or `due` has passed
    supervised: bool
    reporter_count: int
    extension_until: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class QueueFilter:
    state: str | None = None
    category: str | None = None  # category code
    source: str | None = None
    number: str | None = None  # part of a case number


def reviewer_queue(
    session: Session, user: User, now: datetime, where: QueueFilter | None = None, limit: int = QUEUE_LIMIT
) -> list[QueueRow]:
    """The queue of `user`, overdue first, then by nearest deadline (cases without one last), oldest first."""
    where = where or QueueFilter()
    late = _late(now)
    stmt = (
        select(
            Case.number,
            Category.code,
            Category.name,
            Category.name_en,
            AdminUnit.name,
            Case.source,
            Case.state,
            Case.tier,
            STAGE_DUE.label("due"),
            late.label("late"),
            Case.supervised,
            Case.reporter_count,
            Case.extension_requested_until,
            Case.created_at,
        )
        .join(Category, Category.id == Case.category_id)
        .join(AdminUnit, AdminUnit.id == Case.unit_id)
        .where(queue_condition(user))
        .order_by(case((late, 0), else_=1), STAGE_DUE.is_(None), STAGE_DUE, Case.created_at, Case.id)
        .limit(limit)
    )
    if where.state:
        stmt = stmt.where(Case.state == where.state)
    if where.category:
        stmt = stmt.where(Category.code == where.category)
    if where.source:
        stmt = stmt.where(Case.source == where.source)
    if where.number and where.number.strip():
        pattern = where.number.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Case.number.ilike(f"%{pattern}%", escape="\\"))
    return [QueueRow(*row[:9], bool(row[9]), *row[10:]) for row in session.execute(stmt).all()]


@dataclass(frozen=True)
class QueueCounts:
    reviewing: int = 0  # 待审核
    due_soon: int = 0  # 即将超期: not overdue, its stage due within DUE_SOON
    overdue: int = 0  # 已超期
    extensions: int = 0  # 待审批延期
    to_verify: int = 0  # 待核查


def queue_counts(session: Session, user: User, now: datetime, soon: timedelta = DUE_SOON) -> QueueCounts:
    """The counters over the whole queue of `user`, in one statement."""
    late = _late(now)

    def total(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            total(Case.state == State.REVIEWING.value),
            total(and_(~late, STAGE_DUE.is_not(None), STAGE_DUE <= now + soon)),
            total(late),
            total(
                and_(
                    Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value]),
                    Case.extension_requested_until.is_not(None),
                )
            ),
            total(Case.state == State.RECTIFIED.value),
        ).where(queue_condition(user))
    ).one()
    return QueueCounts(*(int(value) for value in row))


def category_choices(session: Session) -> list[tuple[str, str, str]]:
    """Active categories as (code, name, English name), by code, for filters."""
    stmt = select(Category.code, Category.name, Category.name_en).where(Category.active.is_(True))
    return [(code, name, name_en) for code, name, name_en in session.execute(stmt.order_by(Category.code)).all()]


# ------------------------------------------------------------------------------------------ around one case


@dataclass(frozen=True)
class LinkedCase:
    number: str
    state: str
    tier: str
    place: str
    created_at: datetime
    reporter_count: int
    distance_m: float | None = None  # these three only for merge candidates
    lat: float | None = None
    lon: float | None = None


def _linked(stmt: Any) -> Any:
    return stmt.join(AdminUnit, AdminUnit.id == Case.unit_id)


_LINKED_COLUMNS = (Case.number, Case.state, Case.tier, AdminUnit.name, Case.created_at, Case.reporter_count)


def merged_into_this(session: Session, user: User, case_: Case) -> list[LinkedCase]:
    """The cases merged into `case_` that `user` may see (a duplicate may lie in a neighbour's area)."""
    stmt = _linked(select(*_LINKED_COLUMNS)).where(Case.merged_into_id == case_.id, case_scope(user))
    return [LinkedCase(*row) for row in session.execute(stmt.order_by(Case.created_at)).all()]


def merged_target(session: Session, user: User, case_: Case) -> LinkedCase | None:
    """The case `case_` was merged into, if `user` may see it."""
    if case_.merged_into_id is None:
        return None
    stmt = _linked(select(*_LINKED_COLUMNS)).where(Case.id == case_.merged_into_id, case_scope(user))
    row = session.execute(stmt).first()
    return LinkedCase(*row) if row is not None else None


def merge_candidates(
    session: Session, user: User, case_: Case, radius_m: float = MERGE_RADIUS_M, limit: int = 20
) -> list[LinkedCase]:
    """Open cases of the same category within `radius_m` of `case_` that `user` may see, nearest first: the
    targets the case page offers for a merge."""
    if case_.lat is None or case_.lon is None:
        return []
    box = radius_m / 111_000 * 1.5
    stmt = _linked(select(*_LINKED_COLUMNS, Case.lat, Case.lon)).where(
        Case.id != case_.id,
        Case.category_id == case_.category_id,
        Case.state.in_([s.value for s in OPEN_STATES]),
        Case.lat.between(case_.lat - box, case_.lat + box),
        Case.lon.between(case_.lon - box * 1.3, case_.lon + box * 1.3),
        case_scope(user),
    )
    found = []
    for *columns, lat, lon in session.execute(stmt).all():
        distance = haversine_m(case_.lat, case_.lon, lat, lon)
        if distance <= radius_m:
            found.append(LinkedCase(*columns, distance_m=round(distance, 1), lat=lat, lon=lon))
    found.sort(key=lambda c: (c.distance_m, c.created_at))
    return found[:limit]


@dataclass(frozen=True)
class LinkedSignal:
    """An inbound report attached to a case, without its body or any reporter's details."""

    id: int
    source: str
    type: str | None
    state: str | None
    time: datetime | None
    received_at: datetime
    camera: str | None
    status: str


def case_signals(session: Session, case_: Case, limit: int = 200) -> list[LinkedSignal]:
    """The signals that opened or joined `case_`, oldest first (only metadata columns are read)."""
    stmt = (
        select(
            Signal.id,
            Signal.source,
            Signal.type,
            Signal.state,
            Signal.time,
            Signal.received_at,
            Camera.name,
            Signal.status,
        )
        .outerjoin(Camera, Camera.id == Signal.camera_id)
        .where(Signal.case_id == case_.id)
        .order_by(Signal.id)
        .limit(limit)
    )
    return [LinkedSignal(*row) for row in session.execute(stmt).all()]


def dispatch_units(session: Session, user: User) -> list[tuple[str, str]]:
    """Responsible units whose area lies inside `user`'s unit, as (code, name): where `user` may dispatch."""
    if user.admin_unit is None:
        return []
    stmt = (
        select(ResponsibleUnit.code, ResponsibleUnit.name)
        .join(AdminUnit, AdminUnit.id == ResponsibleUnit.area_id)
        .where(AdminUnit.path.startswith(user.admin_unit.path))
        .order_by(AdminUnit.path, ResponsibleUnit.code)
    )
    return [(code, name) for code, name in session.execute(stmt).all()]


def district_path(session: Session, unit_path: str) -> str | None:
    """The path of the district (区/县) containing a place, the extent of a case's map."""
    stmt = select(AdminUnit.path).where(AdminUnit.id.in_(path_ids(unit_path)), AdminUnit.level == Level.DISTRICT.value)
    return session.execute(stmt).scalar_one_or_none()
