"""Where a case belongs and who handles it: place lookup, routing rule choice, the default responsible unit."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.calendar import WorkCalendar
from models.errors import NotFound, ValidationError
from models.org import AdminUnit, Level, ResponsibleUnit
from models.taxonomy import Category, RoutingRule


def path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def locate(session: Session, lat: float, lon: float, max_km: float = 15.0) -> AdminUnit:
    """The village/community (or grid) whose centre is nearest to the point.

    The tree carries centre points, not boundaries, so a point belongs to its nearest centre (a Voronoi
    partition); a point farther than `max_km` from every centre is outside the jurisdiction.
    """
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValidationError(f"坐标无效：{lat},{lon}", f"invalid coordinates {lat},{lon}")
    rows = session.execute(
        select(AdminUnit).where(
            AdminUnit.level.in_([Level.VILLAGE.value, Level.GRID.value]),
            AdminUnit.lat.is_not(None),
            AdminUnit.lon.is_not(None),
        )
    ).scalars()
    best: tuple[float, AdminUnit] | None = None
    for unit in rows:
        assert unit.lat is not None and unit.lon is not None
        d = haversine_m(lat, lon, unit.lat, unit.lon)
        if best is None or d < best[0]:
            best = (d, unit)
    if best is None or best[0] > max_km * 1000:
        raise ValidationError(
            f"坐标 {lat},{lon} 不在任何村/社区辖区内",
            f"{lat},{lon} is not inside any village or community of the jurisdiction",
        )
    return best[1]


class RuleBook:
    """The active routing rules, loaded once, for choosing among them many times (a batch of new cases)."""

    def __init__(self, session: Session) -> None:
        self.rules = list(session.execute(select(RoutingRule).where(RoutingRule.active.is_(True))).scalars())

    def find(self, category: Category, place: AdminUnit) -> RoutingRule | None:
        """The most specific rule: one naming the category beats one for any category; then the deepest area
        that contains the place; then the newest."""
        ancestors = path_ids(place.path)
        best: tuple[tuple[int, int, int], RoutingRule] | None = None
        for rule in self.rules:
            if rule.category_id is not None and rule.category_id != category.id:
                continue
            if rule.area_id is not None and rule.area_id not in ancestors:
                continue
            depth = ancestors.index(rule.area_id) + 1 if rule.area_id is not None else 0
            rank = (1 if rule.category_id is not None else 0, depth, rule.id)
            if best is None or rank > best[0]:
                best = (rank, rule)
        return best[1] if best else None


def find_rule(session: Session, category: Category, place: AdminUnit) -> RoutingRule | None:
    return RuleBook(session).find(category, place)


DEFAULT_HOURS = {"review": 1.0, "ack": 1.0, "rectify": 72.0}


class Deadlines:
    """The SLA clocks of one routing rule: clock hours, or working time when the rule says so."""

    def __init__(self, session: Session, rule: RoutingRule | None) -> None:
        self.session = session
        self.rule = rule
        self._calendar: WorkCalendar | None = None

    @property
    def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            self._calendar = WorkCalendar.load(self.session)
        return self._calendar

    def after(self, start: datetime, hours: float) -> datetime:
        if self.rule is not None and self.rule.calendar == "working":
            return self.calendar.add_hours(start, hours)
        return start + timedelta(hours=hours)

    def review(self, start: datetime, tier: str) -> datetime:
        hours = self.rule.review_hours(tier) if self.rule is not None else DEFAULT_HOURS["review"]
        return self.after(start, hours)

    def ack(self, start: datetime) -> datetime:
        return self.after(start, self.rule.ack_hours if self.rule is not None else DEFAULT_HOURS["ack"])

    def rectify(self, start: datetime) -> datetime:
        if self.rule is not None and self.rule.rectify_working_days:
            return self.calendar.add_days(start, self.rule.rectify_working_days)
        return self.after(start, self.rule.rectify_hours if self.rule is not None else DEFAULT_HOURS["rectify"])


def default_responsible_unit(
    session: Session, place: AdminUnit, rule: RoutingRule | None, scope: AdminUnit | None = None
) -> ResponsibleUnit | None:
    """The rule's unit when it names one inside the dispatcher's `scope`; otherwise the government of the
    place's township, else the committee of its village, else the district's (again only inside `scope`)."""

    def inside(unit: ResponsibleUnit) -> bool:
        return scope is None or unit.area.path.startswith(scope.path)

    if rule is not None and rule.responsible_unit is not None and inside(rule.responsible_unit):
        return rule.responsible_unit
    ancestors = session.execute(select(AdminUnit).where(AdminUnit.id.in_(path_ids(place.path)))).scalars()
    by_level = {unit.level: unit for unit in ancestors}
    for level in (Level.TOWNSHIP, Level.VILLAGE, Level.DISTRICT):
        area = by_level.get(level.value)
        if area is None:
            continue
        units = session.execute(
            select(ResponsibleUnit).where(ResponsibleUnit.area_id == area.id).order_by(ResponsibleUnit.id)
        ).scalars()
        for unit in units:
            if inside(unit):
                return unit
    return None


def unit_by_code(session: Session, code: str) -> ResponsibleUnit:
    unit = session.execute(select(ResponsibleUnit).where(ResponsibleUnit.code == code)).scalar_one_or_none()
    if unit is None:
        raise NotFound(f"没有责任单位 {code}（见 xueliang units）", f"no responsible unit {code} (see xueliang units)")
    return unit
