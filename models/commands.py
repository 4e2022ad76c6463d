"""The commands that change a case. Each runs inside one unit of work (models.db.Database.write): it checks,
changes the case, appends one hash-chained CaseEvent and one Outbox row, and either all of it commits or none.

The CLI, the flows and the console all call these functions; no other code writes case rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from models import closed_rollup  # noqa: F401  (its flush hook keeps the closed-case sums in step)
from models.audit import GENESIS, event_digest
from models.cases import OPEN_STATES, Case, CaseCounter, CaseEvent, Outbox, Source, State
from models.db import insert_ignoring_duplicates, utcnow
from models.errors import Conflict, Forbidden, IllegalAction, NotFound, ValidationError
from models.org import AdminUnit, Camera, Role, UnitContact, User
from models.routing import Deadlines, RuleBook, default_responsible_unit, locate, unit_by_code
from models.taxonomy import Category
from models.workflow import ACTIONS, ActionSpec, Who, check_state, get_spec, next_tier, user_tier
from models.workflow import check as check_action

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
SYSTEM = "system"


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(f"没有用户 {username}（见 xueliang users）", f"no user {username} (see xueliang users)")
    return user


def get_category(session: Session, code: str) -> Category:
    category = session.execute(select(Category).where(Category.code == code)).scalar_one_or_none()
    if category is None or not category.active:
        raise NotFound(
            f"没有问题类别 {code}（见 xueliang categories）", f"no category {code} (see xueliang categories)"
        )
    return category


def get_case(session: Session, number: str, *, lock: bool = False) -> Case:
    stmt = select(Case).where(Case.number == number)
    if lock:
        stmt = stmt.with_for_update()
    case = session.execute(stmt).scalar_one_or_none()
    if case is None:
        raise NotFound(f"没有案卷 {number}", f"no case {number}")
    return case


def next_numbers(session: Session, prefix: str, now: datetime, count: int = 1) -> list[str]:
    """`count` consecutive case numbers of the day (LY-20261125-0001 …, Asia/Shanghai day), reserved in one
    statement under the write lock; a rolled-back transaction gives them back."""
    key = f"{prefix}-{now.astimezone(LOCAL_TZ):%Y%m%d}"
    counter = CaseCounter.__table__
    connection = session.connection()  # Core statements: no ORM bookkeeping over the session's objects
    connection.execute(insert_ignoring_duplicates(session, counter).values(prefix=key, last=0))
    last = connection.execute(
        update(counter).where(counter.c.prefix == key).values(last=counter.c.last + count).returning(counter.c.last)
    ).scalar_one()
    return [f"{key}-{n:04d}" for n in range(last - count + 1, last + 1)]


def _history_rows(
    case: Case,
    action: str,
    actor: str,
    at: datetime,
    note: str | None,
    from_state: str | None,
    from_tier: str | None,
    data: dict[str, Any] | None,
    prev: str,
) -> tuple[CaseEvent, Outbox]:
    """The chained history row and the outbox row of one version step (the case row already flushed)."""
    event = CaseEvent(
        case_id=case.id,
        seq=case.version,  # one event per version step: the sequence number is the case's new version
        version=case.version,
        action=action,
        actor=actor,
        at=at,
        note=note,
        from_state=from_state,
        to_state=case.state,
        from_tier=from_tier,
        to_tier=case.tier,
        data=data or {},
        prev_hash=prev,
    )
    event.hash = event_digest(case.number, event, prev)
    outbox = Outbox(
        topic=f"case.{action}",
        case_id=case.id,
        payload={
            "number": case.number,
            "action": action,
            "version": case.version,
            "state": case.state,
            "tier": case.tier,
            "actor": actor,
            "at": at.isoformat(),
            "data": data or {},
        },
        created_at=at,
        available_at=at,
    )
    return event, outbox


def record_event(
    session: Session,
    case: Case,
    action: str,
    actor: str,
    at: datetime,
    note: str | None,
    from_state: str | None,
    from_tier: str | None,
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Flush the case change (the version check happens here), then append the chained event and the outbox row.

    The case row is always written, even when nothing but the history changes (two entries at the same
    instant), so that every history entry has its own version step."""
    case.updated_at = at
    flag_modified(case, "updated_at")
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"案卷 {case.number} 刚被他人修改，请刷新后重试",
            f"case {case.number} was changed by someone else meanwhile; reload and try again",
            case.number,
            None,
        ) from exc
    prev = GENESIS
    if case.version > 1:
        prev = session.execute(
            select(CaseEvent.hash).where(CaseEvent.case_id == case.id, CaseEvent.seq == case.version - 1)
        ).scalar_one()
    event, outbox = _history_rows(case, action, actor, at, note, from_state, from_tier, data, prev)
    session.add_all([event, outbox])
    session.flush()
    return event


@dataclass
class NewCase:
    """What is needed to open a case; see create_cases."""

    source: Source
    category: Category
    place: AdminUnit
    description: str
    actor: str
    lat: float | None = None
    lon: float | None = None
    camera: Camera | None = None
    tier: str | None = None
    registered: bool = False
    address: str | None = None
    data: dict[str, Any] | None = None


def create_cases(session: Session, items: list[NewCase], now: datetime | None = None, prefix: str = "LY") -> list[Case]:
    """Open cases at their starting tier with their review clocks running, in bulk: numbers reserved in one
    statement, cases, history rows and outbox rows each written in one flush. Camera and citizen cases start
    where the routing rule says (the village by default); patrol cases start at the raising inspector's tier."""
    if not items:
        return []
    now = now or utcnow()
    numbers = next_numbers(session, prefix, now, len(items))
    book = RuleBook(session)
    cases = []
    for item, number in zip(items, numbers, strict=True):
        rule = book.find(item.category, item.place)
        start = item.tier or (rule.start_tier if rule is not None else "village")
        cases.append(
            Case(
                number=number,
                source=item.source.value,
                category_id=item.category.id,
                category=item.category,
                description=item.description,
                address=item.address,
                lat=item.lat if item.lat is not None else (item.camera.lat if item.camera else item.place.lat),
                lon=item.lon if item.lon is not None else (item.camera.lon if item.camera else item.place.lon),
                unit_id=item.place.id,
                unit=item.place,
                unit_path=item.place.path,
                camera_id=item.camera.id if item.camera else None,
                routing_rule_id=rule.id if rule else None,
                routing_rule=rule,
                tier=start,
                state=State.REVIEWING.value,
                registered_at=now if item.registered else None,
                review_due=Deadlines(session, rule).review(now, start),
                supervised=False,
                overdue=False,
                rework_count=0,
                reporter_count=1,
                created_at=now,
                updated_at=now,
                created_by=item.actor,
            )
        )
    session.add_all(cases)
    session.flush()
    history = []
    for item, case in zip(items, cases, strict=True):
        payload = {"source": item.source.value, "category": item.category.code, "place": item.place.code}
        history += _history_rows(
            case,
            "create",
            item.actor,
            now,
            item.description or None,
            None,
            None,
            {**payload, **(item.data or {})},
            GENESIS,
        )
    _insert_plain(session, history)
    return cases


def _insert_plain(session: Session, rows: list[CaseEvent | Outbox]) -> None:
    """Insert rows whose generated ids nobody needs as plain executemany (a short, cached statement per table),
    which is much cheaper on PostgreSQL than the ORM's multi-row INSERT … RETURNING."""
    by_table: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        table = type(row).__table__
        by_table.setdefault(table, []).append(
            {c.key: getattr(row, c.key) for c in table.columns if c.key != "id" and getattr(row, c.key) is not None}
        )
    for table, params in by_table.items():
        session.connection().execute(table.insert(), params)


def create_case(session: Session, *, now: datetime | None = None, prefix: str = "LY", **fields: Any) -> Case:
    """One case; see create_cases."""
    return create_cases(session, [NewCase(**fields)], now, prefix)[0]


def patrol_case(
    session: Session,
    *,
    username: str,
    category_code: str,
    lat: float,
    lon: float,
    description: str,
    camera_id: int | None = None,
    now: datetime | None = None,
    prefix: str = "LY",
    data: dict[str, Any] | None = None,
) -> Case:
    """An inspector's video-patrol finding: registered at once at the inspector's own tier. `data` joins the
    creation event's data (the patrol it came from, the box drawn on the picture)."""
    user = get_user(session, username)
    if user.role != Role.INSPECTOR or user.admin_unit is None:
        raise IllegalAction(
            f"巡查立案须由巡查员操作，{username} 的角色是 {user.role}",
            f"patrol cases are raised by inspectors; {username} is a {user.role}",
        )
    if not description.strip():
        raise ValidationError("请填写问题描述", "a description is required")
    category = get_category(session, category_code)
    camera = None
    if camera_id is not None:
        camera = session.get(Camera, camera_id)
        if camera is None:
            raise NotFound(f"没有摄像机 {camera_id}（见 xueliang cameras）", f"no camera {camera_id}")
        place = camera.unit
    else:
        place = locate(session, lat, lon)
    if not place.path.startswith(user.admin_unit.path):
        raise IllegalAction(
            f"位置 {place.name} 不在 {username} 的巡查范围 {user.admin_unit.name} 内",
            f"{place.name} is outside {username}'s patrol scope {user.admin_unit.name}",
        )
    tier = user_tier(user)
    assert tier is not None
    return create_case(
        session,
        source=Source.PATROL,
        category=category,
        place=place,
        description=description.strip(),
        actor=username,
        now=now,
        lat=lat,
        lon=lon,
        camera=camera,
        tier=tier.value,
        registered=True,
        prefix=prefix,
        data=data,
    )


def route_case(session: Session, number: str, now: datetime | None = None) -> bool:
    """Place a case in its queue if it is not placed yet: a case opened while no routing rule matched (or with
    its review clock not started) gets the current rule and its clock. True when something changed; cases
    routed at creation (all of intake's and patrols') are left as they are, so the step is idempotent."""
    now = now or utcnow()
    with session.no_autoflush:
        case = get_case(session, number, lock=True)
        if case.state != State.REVIEWING.value or (case.routing_rule_id is not None and case.review_due is not None):
            return False
        rule = RuleBook(session).find(case.category, case.unit)
        if rule is None and case.review_due is not None:
            return False
        case.routing_rule_id = rule.id if rule is not None else None
        case.routing_rule = rule
        case.review_due = Deadlines(session, rule).review(now, case.tier)
        data = {"rule": f"{rule.key} v{rule.version}" if rule else None, "review_due": case.review_due.isoformat()}
        record_event(
            session,
            case,
            "route",
            SYSTEM,
            now,
            "按路由规则进入审核队列 / placed in its review queue",
            case.state,
            case.tier,
            data,
        )
    return True


@dataclass(frozen=True)
class ActParams:
    note: str | None = None
    unit: str | None = None
    due: datetime | None = None
    target: str | None = None
    version: int | None = None


def _stale(session: Session, case: Case, expected: int) -> Conflict:
    events = (
        session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.version > expected).order_by(CaseEvent.seq)
        )
        .scalars()
        .all()
    )
    who = ", ".join(f"{e.actor} {e.action} (v{e.version})" for e in events) or "?"
    return Conflict(
        f"案卷 {case.number} 已被修改（您看到的是第 {expected} 版，现为第 {case.version} 版：{who}），请刷新后重试",
        f"case {case.number} changed since version {expected} (now version {case.version}: {who});"
        " reload and try again",
        case.number,
        expected,
    )


def act(
    session: Session,
    number: str,
    action: str,
    username: str,
    params: ActParams | None = None,
    now: datetime | None = None,
) -> Case:
    """Perform one state-machine action as `username`, exactly as every front end does.

    Autoflush is off while the case changes, so the case row is written once, by record_event: one version
    step per action, however many queries the action's rules make on the way."""
    with session.no_autoflush:
        user = get_user(session, username)
        return _act(
            session, number, action, username, user, params, now, lambda spec, case: check_action(spec, case, user)
        )


def act_as_contact(
    session: Session,
    number: str,
    action: str,
    contact_id: int,
    params: ActParams | None = None,
    now: datetime | None = None,
) -> Case:
    """An action by a registered SMS contact of the case's responsible unit (the SMS reply path): only the
    unit's own actions (acknowledge, return, request extension, report fixed), only on its own cases."""
    contact = session.get(UnitContact, contact_id)
    if contact is None:
        raise NotFound(f"没有联系人 {contact_id}", f"no contact {contact_id}")

    def authorize(spec: ActionSpec, case: Case) -> None:
        if spec.who is not Who.UNIT_DISPATCHER:
            raise Forbidden(f"短信联系人不能“{spec.zh}”", f"an SMS contact cannot '{spec.en}'")
        if not contact.active or contact.unit_id != case.responsible_unit_id:
            raise Forbidden(
                f"{contact.phone_masked} 不是案卷 {case.number} 责任单位的登记联系人",
                f"{contact.phone_masked} is not a registered contact of case {case.number}'s responsible unit",
            )
        check_state(spec, case)

    with session.no_autoflush:
        return _act(session, number, action, f"sms:{contact.name}", None, params, now, authorize)


def _act(
    session: Session,
    number: str,
    action: str,
    actor: str,
    user: User | None,
    params: ActParams | None,
    now: datetime | None,
    authorize: Callable[[ActionSpec, Case], None],
) -> Case:
    params = params or ActParams()
    now = now or utcnow()
    spec = get_spec(action)
    case = get_case(session, number, lock=True)
    if params.version is not None and case.version != params.version:
        raise _stale(session, case, params.version)
    authorize(spec, case)
    note = (params.note or "").strip() or None
    if spec.needs_note and not note:
        raise ValidationError(f"“{spec.zh}”须填写理由（--note）", f"'{spec.en}' needs a reason (--note)")
    from_state, from_tier = case.state, case.tier
    data: dict[str, Any] = {}
    rule = case.routing_rule
    clock = Deadlines(session, rule)
    # Changes to a second case (the merge target) are applied only after the first case's row is written, so
    # that each case row is written once and steps its version once.
    target: Case | None = None

    if action == "register":
        case.registered_at = now
    elif action == "escalate":
        up = next_tier(case.tier)
        assert up is not None  # check_state refused a city-tier case
        case.tier = up.value
        case.registered_at = None
        case.review_due = clock.review(now, up.value)
    elif action == "reject":
        pass
    elif action == "merge":
        if not params.target:
            raise ValidationError("合并须指定目标案卷（--target）", "merge needs the target case (--target)")
        if params.target == number:
            raise ValidationError("不能合并到自身", "a case cannot be merged into itself")
        target = get_case(session, params.target, lock=True)
        if State(target.state) not in OPEN_STATES:
            raise IllegalAction(
                f"目标案卷 {target.number} 已办结，不能合并", f"target case {target.number} is not open"
            )
        case.merged_into_id = target.id
        data["target"] = target.number
    elif action == "dispatch":
        unit = (
            unit_by_code(session, params.unit)
            if params.unit
            else default_responsible_unit(session, case.unit, rule, user.admin_unit)
        )
        if unit is None:
            raise ValidationError("请指定责任单位（--unit）", "name the responsible unit (--unit)")
        assert user is not None and user.admin_unit is not None
        if not unit.area.path.startswith(user.admin_unit.path):
            raise IllegalAction(
                f"责任单位 {unit.name} 不在 {actor} 的辖区内，请上报",
                f"unit {unit.name} is outside {actor}'s scope; escalate instead",
            )
        if params.due is not None and params.due <= now:
            raise ValidationError("整改期限须晚于当前时间", "the due time must be in the future")
        case.responsible_unit_id = unit.id
        case.responsible_unit = unit
        case.registered_at = case.registered_at or now
        case.dispatched_at = now
        case.ack_due = clock.ack(now)
        case.rectify_due = params.due or clock.rectify(now)
        case.overdue = False
        case.extension_requested_until = None
        data.update(unit=unit.code, rectify_due=case.rectify_due.isoformat())
    elif action == "acknowledge":
        case.ack_due = None
    elif action == "return":
        data["unit"] = case.responsible_unit.code if case.responsible_unit else None
        case.responsible_unit_id = None
        case.responsible_unit = None
        case.ack_due = None
        case.rectify_due = None
        case.overdue = False
        case.review_due = clock.review(now, case.tier)
    elif action == "request_extension":
        if params.due is None or (case.rectify_due is not None and params.due <= case.rectify_due):
            raise ValidationError(
                "延期须给出晚于当前期限的新期限（--due）",
                "an extension needs a new due time later than the current one (--due)",
            )
        case.extension_requested_until = params.due
        data["until"] = params.due.isoformat()
    elif action in ("approve_extension", "refuse_extension"):
        assert case.extension_requested_until is not None  # check_state refused otherwise
        data["until"] = case.extension_requested_until.isoformat()
        if action == "approve_extension":
            case.rectify_due = case.extension_requested_until
            case.overdue = False
        case.extension_requested_until = None
    elif action == "report_fixed":
        case.ack_due = None
    elif action == "verify_pass":
        case.closed_at = now
        case.closed_on_time = case.rectify_due is None or now <= case.rectify_due
    elif action == "verify_fail":
        if params.due is not None and params.due <= now:
            raise ValidationError("返工期限须晚于当前时间", "the rework due time must be in the future")
        case.rework_count += 1
        case.overdue = False
        case.ack_due = clock.ack(now)
        case.rectify_due = params.due or clock.rectify(now)
        data["rework"] = case.rework_count
    elif action == "park":
        case.parked_from = case.state
        case.parked_at = now
    elif action == "unpark":
        assert case.parked_at is not None and case.parked_from is not None
        paused = now - case.parked_at
        for field in ("review_due", "ack_due", "rectify_due"):
            value = getattr(case, field)
            if value is not None:
                setattr(case, field, value + paused)
        case.state = case.parked_from
        case.parked_from = None
        case.parked_at = None
        data["paused_hours"] = round(paused / timedelta(hours=1), 3)
    elif action == "reopen":
        case.closed_at = None
        case.closed_on_time = None
        case.responsible_unit_id = None
        case.responsible_unit = None
        case.ack_due = None
        case.rectify_due = None
        case.registered_at = None
        case.overdue = False
        case.review_due = clock.review(now, case.tier)

    if spec.to_state is not None:
        case.state = spec.to_state.value
    record_event(session, case, action, actor, now, note, from_state, from_tier, data)
    if target is not None:
        target.reporter_count += case.reporter_count
        record_event(
            session, target, "absorb", actor, now, f"合并自 {number}", target.state, target.tier, {"merged": number}
        )
    return case


__all__ = [
    "ACTIONS",
    "ActParams",
    "NewCase",
    "act",
    "create_case",
    "create_cases",
    "get_case",
    "get_category",
    "get_user",
    "next_numbers",
    "patrol_case",
]
