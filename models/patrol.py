"""Video patrol (视频巡查): plans of cameras an inspector steps through, each patrol's views and findings.

Coverage (覆盖率) is cameras viewed ÷ cameras in the plan; findings (发现问题数) are the patrol cases raised
during the patrol. Both are counted per patrol and per township, as a civilization office reports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Integer, String, Text, UniqueConstraint, and_, distinct, func, select
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship

from models.cases import Case, Evidence
from models.commands import get_user, patrol_case
from models.db import Base, UTCDateTime, insert_ignoring_duplicates, utcnow
from models.errors import Forbidden, IllegalAction, NotFound, ValidationError
from models.org import AdminUnit, Camera, Level, Role, User


class PatrolPlan(Base):
    """A named set of cameras: every camera under `unit` (a township, say), or the explicit `camera_ids` list."""

    __tablename__ = "patrol_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    camera_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(default=True)

    unit: Mapped[AdminUnit | None] = relationship()


class Patrol(Base):
    """One inspector's pass over a plan."""

    __tablename__ = "patrol"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("patrol_plan.id"), index=True)
    inspector: Mapped[str] = mapped_column(String(64), index=True)
    planned: Mapped[int] = mapped_column(Integer, default=0)  # cameras in the plan when the patrol started
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    plan: Mapped[PatrolPlan | None] = relationship()
    views: Mapped[list[PatrolView]] = relationship(back_populates="patrol", order_by="PatrolView.id")


class PatrolView(Base):
    """A camera looked at during a patrol, and the case raised from it, if any (one row per camera and patrol)."""

    __tablename__ = "patrol_view"
    __table_args__ = (UniqueConstraint("patrol_id", "camera_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patrol_id: Mapped[int] = mapped_column(ForeignKey("patrol.id"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    findings: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)

    patrol: Mapped[Patrol] = relationship(back_populates="views")
    camera: Mapped[Camera] = relationship()


# ------------------------------------------------------------------------------------------------ rules

PATROL_LEVELS = (Level.TOWNSHIP.value, Level.VILLAGE.value, Level.GRID.value)


@dataclass(frozen=True)
class Box:
    """A rectangle drawn on a picture, in percent of its width and height (so it fits any resolution)."""

    left: float
    top: float
    right: float
    bottom: float

    def __post_init__(self) -> None:
        if not (0 <= self.left < self.right <= 100 and 0 <= self.top < self.bottom <= 100):
            raise ValidationError(
                "框选范围无效：须 0 ≤ 左 < 右 ≤ 100，0 ≤ 上 < 下 ≤ 100（百分比）",
                "invalid box: needs 0 <= left < right <= 100 and 0 <= top < bottom <= 100 (percent)",
            )

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """x, y, w, h in pixels of a width × height picture (at least one pixel each way)."""
        x, y = round(self.left * width / 100), round(self.top * height / 100)
        return x, y, max(1, round(self.right * width / 100) - x), max(1, round(self.bottom * height / 100) - y)

    def as_dict(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}

    @classmethod
    def of(cls, data: Any) -> Box | None:
        """The box stored in a case event's data, or None when there is none (or it is malformed)."""
        try:
            return cls(**{side: float(data[side]) for side in ("left", "top", "right", "bottom")})
        except (KeyError, TypeError, ValueError, ValidationError):
            return None


@dataclass(frozen=True)
class PatrolCounts:
    planned: int
    viewed: int
    findings: int

    @property
    def coverage(self) -> float:
        return self.viewed / self.planned if self.planned else 0.0


@dataclass(frozen=True)
class TownshipCounts:
    """One township's patrol work over a period, as Linyi's civilization office reports it."""

    code: str
    name: str
    cameras: int  # cameras in the township (inside the reader's scope)
    viewed: int  # distinct cameras looked at during the period
    patrols: int  # patrols that looked at one of its cameras
    findings: int  # problems raised from its cameras

    @property
    def coverage(self) -> float:
        return self.viewed / self.cameras if self.cameras else 0.0


def inspector(session: Session, username: str) -> User:
    """The account, if it is an active inspector with a unit (whose subtree is its patrol scope)."""
    user = get_user(session, username)
    if user.role != Role.INSPECTOR or user.admin_unit is None or not user.active:
        raise Forbidden(
            f"视频巡查须由巡查员操作，{username} 不是", f"video patrol is for inspectors; {username} is not"
        )
    return user


def _scope(user: User) -> str:
    assert user.admin_unit is not None
    return user.admin_unit.path


def township_of(session: Session, unit: AdminUnit) -> AdminUnit | None:
    """The township (乡镇/街道) a unit lies in (the unit itself when it is one); None above township level."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    return session.execute(
        select(AdminUnit).where(AdminUnit.id.in_(ids), AdminUnit.level == Level.TOWNSHIP.value)
    ).scalar_one_or_none()


def patrol_areas(session: Session, username: str) -> list[AdminUnit]:
    """The units an inspector may patrol as a whole: the townships of her scope, or her own unit when it is a
    township or smaller (a village inspector patrols her village)."""
    user = inspector(session, username)
    assert user.admin_unit is not None
    if user.admin_unit.level in PATROL_LEVELS:
        return [user.admin_unit]
    return list(
        session.execute(
            select(AdminUnit)
            .where(AdminUnit.level == Level.TOWNSHIP.value, AdminUnit.path.startswith(_scope(user)))
            .order_by(AdminUnit.code)
        ).scalars()
    )


def _cameras(session: Session, *where: ColumnElement[bool]) -> list[tuple[Camera, AdminUnit | None]]:
    """Cameras with their townships, by township and name."""
    place, town = aliased(AdminUnit), aliased(AdminUnit)
    stmt = (
        select(Camera, town)
        .join(place, Camera.unit_id == place.id)
        .outerjoin(town, and_(town.level == Level.TOWNSHIP.value, place.path.startswith(town.path)))
        .where(*where)
        .order_by(town.code, Camera.name, Camera.id)
    )
    return [(camera, township) for camera, township in session.execute(stmt).all()]


def scope_cameras(session: Session, username: str) -> list[tuple[Camera, AdminUnit | None]]:
    """Every camera the inspector may put in a plan, by township and name."""
    scope = _scope(inspector(session, username))
    return _cameras(session, Camera.unit.has(AdminUnit.path.startswith(scope)))


def _plan_condition(session: Session, plan: PatrolPlan) -> ColumnElement[bool]:
    if plan.unit_id is not None:
        unit = session.get(AdminUnit, plan.unit_id)
        assert unit is not None
        return Camera.unit.has(AdminUnit.path.startswith(unit.path))
    return Camera.id.in_([int(i) for i in plan.camera_ids])


def plan_cameras(session: Session, plan: PatrolPlan) -> list[tuple[Camera, AdminUnit | None]]:
    """The cameras of a plan (every camera under its unit now, or its list), by township and name."""
    return _cameras(session, _plan_condition(session, plan))


def _plan_in_scope(session: Session, user: User, plan: PatrolPlan) -> bool:
    scope = _scope(user)
    if plan.unit_id is not None:
        unit = session.get(AdminUnit, plan.unit_id)
        return unit is not None and unit.path.startswith(scope)
    outside = session.execute(
        select(Camera.id)
        .join(AdminUnit, Camera.unit_id == AdminUnit.id)
        .where(Camera.id.in_([int(i) for i in plan.camera_ids]), ~AdminUnit.path.startswith(scope))
        .limit(1)
    ).first()
    return bool(plan.camera_ids) and outside is None


def create_plan(
    session: Session,
    username: str,
    name: str,
    *,
    unit_code: str | None = None,
    camera_ids: list[int] | None = None,
    now: datetime | None = None,
) -> PatrolPlan:
    """A plan of every camera under an administrative unit, or of an explicit camera list; all of it inside
    the inspector's scope."""
    user = inspector(session, username)
    scope = _scope(user)
    if not name.strip():
        raise ValidationError("请填写计划名称", "a plan name is required")
    if (unit_code is None) == (camera_ids is None):
        raise ValidationError(
            "巡查计划须指定一个行政区划或一组摄像机（二选一）", "a plan names either an area or a list of cameras"
        )
    unit = None
    ids: list[int] = []
    if unit_code is not None:
        unit = session.execute(select(AdminUnit).where(AdminUnit.code == unit_code)).scalar_one_or_none()
        if unit is None:
            raise NotFound(f"没有行政区划 {unit_code}（见 xueliang units）", f"no unit {unit_code}")
        if not unit.path.startswith(scope):
            raise Forbidden(
                f"{unit.name} 不在 {username} 的巡查范围内", f"{unit.name} is outside {username}'s patrol scope"
            )
    else:
        ids = list(dict.fromkeys(int(i) for i in camera_ids or []))
        if not ids:
            raise ValidationError("请至少选择一台摄像机", "choose at least one camera")
        found = {c.id: c for c in session.execute(select(Camera).where(Camera.id.in_(ids))).scalars()}
        for camera_id in ids:
            camera = found.get(camera_id)
            if camera is None:
                raise NotFound(f"没有摄像机 {camera_id}（见 xueliang cameras）", f"no camera {camera_id}")
            if not camera.unit.path.startswith(scope):
                raise Forbidden(
                    f"摄像机 {camera.name} 不在 {username} 的巡查范围内",
                    f"camera {camera.name} is outside {username}'s patrol scope",
                )
    plan = PatrolPlan(
        name=name.strip()[:100],
        unit_id=unit.id if unit else None,
        unit=unit,
        camera_ids=ids,
        created_by=username,
        created_at=now or utcnow(),
        active=True,
    )
    session.add(plan)
    session.flush()
    return plan


def area_plan(session: Session, username: str, unit_code: str, now: datetime | None = None) -> PatrolPlan:
    """The inspector's ad-hoc plan "all cameras of this unit": reused when she made one before, made otherwise."""
    user = inspector(session, username)
    for plan in session.execute(
        select(PatrolPlan)
        .join(AdminUnit, PatrolPlan.unit_id == AdminUnit.id)
        .where(PatrolPlan.created_by == user.username, PatrolPlan.active.is_(True), AdminUnit.code == unit_code)
        .order_by(PatrolPlan.id)
    ).scalars():
        return plan
    unit = session.execute(select(AdminUnit).where(AdminUnit.code == unit_code)).scalar_one_or_none()
    name = f"{unit.name} 全部摄像机" if unit is not None else unit_code
    return create_plan(session, username, name, unit_code=unit_code, now=now)


def visible_plans(session: Session, username: str) -> list[PatrolPlan]:
    """Active plans wholly inside the inspector's scope (whoever made them), newest first."""
    user = inspector(session, username)
    plans = session.execute(
        select(PatrolPlan).where(PatrolPlan.active.is_(True)).order_by(PatrolPlan.id.desc())
    ).scalars()
    return [plan for plan in plans if _plan_in_scope(session, user, plan)]


def _visible_plan(session: Session, user: User, plan_id: int) -> PatrolPlan:
    plan = session.get(PatrolPlan, plan_id)
    if plan is None or not plan.active or not _plan_in_scope(session, user, plan):
        raise NotFound(f"没有巡查计划 {plan_id}", f"no patrol plan {plan_id}")
    return plan


def start_patrol(session: Session, username: str, plan_id: int, now: datetime | None = None) -> Patrol:
    """A new pass over a plan; the plan's camera count now is the patrol's planned count."""
    user = inspector(session, username)
    plan = _visible_plan(session, user, plan_id)
    planned = len(plan_cameras(session, plan))
    if planned == 0:
        raise ValidationError(f"巡查计划“{plan.name}”没有摄像机", f"patrol plan '{plan.name}' has no cameras")
    patrol = Patrol(plan_id=plan.id, plan=plan, inspector=user.username, planned=planned, started_at=now or utcnow())
    session.add(patrol)
    session.flush()
    return patrol


def get_patrol(session: Session, patrol_id: int, username: str) -> Patrol:
    """One of the inspector's own patrols (another's is reported as missing)."""
    patrol = session.get(Patrol, patrol_id)
    if patrol is None or patrol.inspector != username:
        raise NotFound(f"没有巡查 {patrol_id}", f"no patrol {patrol_id}")
    return patrol


def unfinished_patrol(session: Session, username: str) -> Patrol | None:
    """The inspector's latest patrol not finished yet (to resume after a reload or on another device)."""
    return session.execute(
        select(Patrol)
        .where(Patrol.inspector == username, Patrol.finished_at.is_(None))
        .order_by(Patrol.started_at.desc(), Patrol.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _open_patrol_camera(session: Session, patrol_id: int, camera_id: int, username: str) -> tuple[Patrol, Camera]:
    patrol = get_patrol(session, patrol_id, username)
    if patrol.finished_at is not None:
        raise IllegalAction(f"巡查 {patrol_id} 已结束", f"patrol {patrol_id} is finished")
    assert patrol.plan is not None
    camera = session.execute(
        select(Camera).where(Camera.id == camera_id, _plan_condition(session, patrol.plan))
    ).scalar_one_or_none()
    if camera is None:
        raise NotFound(f"巡查计划中没有摄像机 {camera_id}", f"camera {camera_id} is not in this patrol's plan")
    return patrol, camera


def record_view(
    session: Session, patrol_id: int, camera_id: int, username: str, now: datetime | None = None
) -> PatrolView:
    """That the inspector looked at a camera during the patrol; once per camera and patrol (the first look)."""
    patrol, camera = _open_patrol_camera(session, patrol_id, camera_id, username)
    township = township_of(session, camera.unit)
    session.execute(
        insert_ignoring_duplicates(session, PatrolView.__table__).values(
            patrol_id=patrol.id,
            camera_id=camera.id,
            township_id=township.id if township else None,
            viewed_at=now or utcnow(),
            findings=0,
        )
    )
    return session.execute(
        select(PatrolView).where(PatrolView.patrol_id == patrol.id, PatrolView.camera_id == camera.id)
    ).scalar_one()


def raise_finding(
    session: Session,
    patrol_id: int,
    camera_id: int,
    username: str,
    *,
    category_code: str,
    description: str,
    box: Box | None = None,
    now: datetime | None = None,
) -> Case:
    """A problem seen on a camera during the patrol: a patrol case registered at the inspector's tier (the box
    and the patrol in its creation data), counted on the camera's view."""
    view = record_view(session, patrol_id, camera_id, username, now)
    camera = view.camera
    data: dict[str, Any] = {"patrol": patrol_id}
    if box is not None:
        data["box"] = box.as_dict()
    case = patrol_case(
        session,
        username=username,
        category_code=category_code,
        lat=camera.lat,
        lon=camera.lon,
        description=description,
        camera_id=camera.id,
        now=now,
        data=data,
    )
    view.findings += 1
    session.flush()
    return case


def finish_patrol(session: Session, patrol_id: int, username: str, now: datetime | None = None) -> Patrol:
    patrol = get_patrol(session, patrol_id, username)
    if patrol.finished_at is None:
        patrol.finished_at = now or utcnow()
        session.flush()
    return patrol


def patrol_counts(session: Session, patrol_id: int) -> PatrolCounts:
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise NotFound(f"没有巡查 {patrol_id}", f"no patrol {patrol_id}")
    viewed, findings = session.execute(
        select(func.count(PatrolView.id), func.coalesce(func.sum(PatrolView.findings), 0)).where(
            PatrolView.patrol_id == patrol_id
        )
    ).one()
    return PatrolCounts(planned=patrol.planned, viewed=int(viewed), findings=int(findings))


def township_counts(session: Session, username: str, start: datetime, end: datetime) -> list[TownshipCounts]:
    """Per township of the inspector's scope: its cameras, and the cameras viewed, patrols and findings of the
    views made in [start, end); by township code."""
    scope = _scope(inspector(session, username))
    place, town = aliased(AdminUnit), aliased(AdminUnit)
    cameras = session.execute(
        select(town.id, town.code, town.name, func.count(Camera.id))
        .select_from(Camera)
        .join(place, Camera.unit_id == place.id)
        .join(town, and_(town.level == Level.TOWNSHIP.value, place.path.startswith(town.path)))
        .where(place.path.startswith(scope))
        .group_by(town.id, town.code, town.name)
        .order_by(town.code)
    ).all()
    work = {
        township_id: (int(viewed), int(patrols), int(findings or 0))
        for township_id, viewed, patrols, findings in session.execute(
            select(
                PatrolView.township_id,
                func.count(distinct(PatrolView.camera_id)),
                func.count(distinct(PatrolView.patrol_id)),
                func.sum(PatrolView.findings),
            )
            .join(Camera, PatrolView.camera_id == Camera.id)
            .join(place, Camera.unit_id == place.id)
            .where(place.path.startswith(scope), PatrolView.viewed_at >= start, PatrolView.viewed_at < end)
            .group_by(PatrolView.township_id)
        ).all()
    }
    return [
        TownshipCounts(code, name, int(count), *work.get(township_id, (0, 0, 0)))
        for township_id, code, name, count in cameras
    ]


def latest_picture(session: Session, camera_id: int) -> Evidence | None:
    """The newest ready snapshot or keyframe among the camera's cases' evidence."""
    return session.execute(
        select(Evidence)
        .join(Case, Evidence.case_id == Case.id)
        .where(
            Case.camera_id == camera_id,
            Evidence.kind.in_(("snapshot", "keyframe")),
            Evidence.status == "ready",
            Evidence.uri.is_not(None),
        )
        .order_by(func.coalesce(Evidence.captured_at, Evidence.created_at).desc(), Evidence.id.desc())
        .limit(1)
    ).scalar_one_or_none()
