"""Leadership statistics, computed in the database (aggregates, no row loading), the same on SQLite and PostgreSQL.

Definitions (数字城管 practice):
- population: cases created in the period, less rejected and merged ones;
- due (应结案): of those, the closed ones and the ones whose rectification deadline has passed as of `as_of`;
- closure rate (结案率) = closed ÷ due; on-time closure rate (按期结案率) = closed by the deadline ÷ due;
- average handling time: created -> closed, closed cases only, in hours;
- overdue: open, not parked, past the deadline of the stage it is in (review, acknowledgement, rectification);
- rework: verify-fail count summed.

Figures by district, township or village are aggregated in the database per place (`Case.unit_id`, a few hundred
groups at most) and those sums are added up along the administrative tree here: every figure is a sum, so the
result is exact, and no per-case join to the tree or path arithmetic in SQL is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from models.cases import Case, State
from models.closed_rollup import ClosedRollup, is_open
from models.db import utcnow
from models.errors import ValidationError
from models.org import AdminUnit, Level, ResponsibleUnit
from models.taxonomy import Category

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
PLACE_LEVELS = (Level.DISTRICT.value, Level.TOWNSHIP.value, Level.VILLAGE.value)
GRAINS = ("day", "week", "month")
GROUPINGS = ("unit", "category", "tier", *GRAINS, *PLACE_LEVELS)
PERIODS = ("week", "month", "year")
RANK_METRICS = ("closure_rate", "on_time_closure_rate", "overdue")
MAP_LIMIT = 5000

# the raw sums every figure is made from (adding two rows of these gives the row of their union)
SUMS = (
    "total",
    "due",
    "closed",
    "closed_on_time",
    "overdue",
    "rework",
    "hours_sum",
    "hours_n",
    "reviewing",
    "in_rectification",
    "awaiting_verification",
    "parked",
    "supervised",
)


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(LOCAL_TZ).date()


def period_range(period: str, today: date) -> tuple[date, date]:
    """First and last day (inclusive, Asia/Shanghai) of this week (Monday first), month or year."""
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=6)
    if period == "month":
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following - timedelta(days=1)
    if period == "year":
        return today.replace(month=1, day=1), today.replace(month=12, day=31)
    raise ValidationError(f"时段须为 {'/'.join(PERIODS)}", f"period must be one of {', '.join(PERIODS)}")


def _sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _hours_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    if _sqlite(session):
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def local_bucket(session: Session, column: Any, grain: str) -> ColumnElement[Any]:
    """The Asia/Shanghai day, week (its Monday) or month of a stored UTC instant, as text: "2026-11-25",
    "2026-11-23", "2026-11". Shanghai has kept UTC+8 without daylight saving since 1991."""
    if _sqlite(session):
        if grain == "day":
            return func.date(column, "+8 hours")
        if grain == "week":
            return func.date(column, "+8 hours", "weekday 0", "-6 days")
        return func.strftime("%Y-%m", column, "+8 hours")
    local = func.timezone("Asia/Shanghai", column)
    if grain == "day":
        return func.to_char(local, "YYYY-MM-DD")
    if grain == "week":
        return func.to_char(func.date_trunc("week", local), "YYYY-MM-DD")
    return func.to_char(local, "YYYY-MM")


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def overdue_condition(as_of: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Case.state == State.REVIEWING.value, Case.review_due < as_of),
        and_(Case.state == State.DISPATCHED.value, or_(Case.ack_due < as_of, Case.rectify_due < as_of)),
        and_(Case.state == State.ACKNOWLEDGED.value, Case.rectify_due < as_of),
        Case.overdue.is_(True) & Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value]),
    )


def _metrics(session: Session, as_of: datetime) -> list[ColumnElement[Any]]:
    closed = Case.state == State.CLOSED.value
    due = or_(closed, and_(Case.rectify_due.is_not(None), Case.rectify_due <= as_of))
    hours = case((closed, _hours_between(session, Case.created_at, Case.closed_at)), else_=None)
    return [
        func.count().label("total"),
        _count_if(due).label("due"),
        _count_if(closed).label("closed"),
        _count_if(and_(closed, Case.closed_on_time.is_(True))).label("closed_on_time"),
        _count_if(overdue_condition(as_of)).label("overdue"),
        func.coalesce(func.sum(Case.rework_count), 0).label("rework"),
        func.coalesce(func.sum(hours), 0).label("hours_sum"),
        func.count(hours).label("hours_n"),
        _count_if(Case.state == State.REVIEWING.value).label("reviewing"),
        _count_if(Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value])).label("in_rectification"),
        _count_if(Case.state == State.RECTIFIED.value).label("awaiting_verification"),
        _count_if(Case.state == State.PARKED.value).label("parked"),
        _count_if(Case.supervised.is_(True)).label("supervised"),
    ]


def _sums(row: Any) -> dict[str, float]:
    mapping = row._mapping if hasattr(row, "_mapping") else row
    return {name: float(mapping[name]) if name == "hours_sum" else int(mapping[name]) for name in SUMS}


def _add(into: dict[str, float], other: Mapping[str, float]) -> None:
    for name in SUMS:
        into[name] = into.get(name, 0) + other[name]


def _shape(sums: Mapping[str, float]) -> dict[str, Any]:
    due = int(sums["due"])
    closed = int(sums["closed"])
    avg = sums["hours_sum"] / sums["hours_n"] if sums["hours_n"] else None
    return {
        "closure_rate": round(closed / due, 4) if due else None,
        "on_time_closure_rate": round(sums["closed_on_time"] / due, 4) if due else None,
        "avg_handling_hours": round(avg, 2) if avg is not None else None,
        "overdue": int(sums["overdue"]),
        "rework": int(sums["rework"]),
        "counts": {
            "total": int(sums["total"]),
            "due": due,
            "closed": closed,
            "closed_on_time": int(sums["closed_on_time"]),
            "reviewing": int(sums["reviewing"]),
            "in_rectification": int(sums["in_rectification"]),
            "awaiting_verification": int(sums["awaiting_verification"]),
            "parked": int(sums["parked"]),
            "supervised": int(sums["supervised"]),
        },
    }


def _population(
    date_from: date | None, date_to: date | None, units: list[int] | None, column: Any = Case.created_at
) -> list[ColumnElement[bool]]:
    """Cases counted: not rejected or merged, `column` within the days, placed in `units` (None: anywhere)."""
    if date_from and date_to and date_from > date_to:
        raise ValidationError("起始日期晚于结束日期", "--from is after --to")
    where: list[ColumnElement[bool]] = [Case.state.not_in([State.REJECTED.value, State.MERGED.value])]
    if date_from:
        where.append(column >= local_day_start(date_from))
    if date_to:
        where.append(column < local_day_start(date_to + timedelta(days=1)))
    if units is not None:
        where.append(Case.unit_id.in_(units))
    return where


def _fold_places(session: Session, level: str, per_place: dict[int, dict[str, float]]) -> list[dict[str, Any]]:
    """Per-place sums added up into the ancestor of each place at `level`. Cases placed above that level (on a
    township itself, when villages are asked for) are kept in one row of their own, key None."""
    units = {u.id: u for u in session.execute(select(AdminUnit)).scalars()}
    at_level = {u.id: u for u in units.values() if u.level == level}
    totals: dict[int | None, dict[str, float]] = {}
    for unit_id, sums in per_place.items():
        place = units.get(unit_id)
        ancestors = [int(part) for part in place.path.strip("/").split("/")] if place else []
        key = next((a for a in ancestors if a in at_level), None)
        _add(totals.setdefault(key, dict.fromkeys(SUMS, 0)), sums)
    result = []
    for key, sums in sorted(totals.items(), key=lambda kv: (kv[0] is None, at_level[kv[0]].code if kv[0] else "")):
        unit = at_level.get(key) if key is not None else None
        result.append(
            {
                "key": unit.code if unit else None,
                "name": unit.name if unit else None,
                "name_en": unit.name_en if unit else None,
                **_shape(sums),
            }
        )
    return result


def scan_statistics(
    session: Session,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    by: str | None = None,
    as_of: datetime | None = None,
    unit_path: str | None = None,
) -> dict[str, Any]:
    """`statistics` computed by scanning case_file alone: the reference the rollup path is tested against, and
    the way for breakdowns the rollup does not keep (by tier; by category or unit inside a unit's scope)."""
    as_of = as_of or utcnow()
    _check(by)
    where = _population(date_from, date_to, _scope_units(session, unit_path))
    key = _case_key(session, by)
    metrics = _metrics(session, as_of)
    stmt = select(*metrics) if key is None else select(key.label("key"), *metrics).group_by(key)
    rows = session.execute(stmt.select_from(Case).where(*where)).all()
    groups = {getattr(row, "key", None): _sums(row) for row in rows}
    return _finish(session, by, groups, as_of, date_from, date_to)


def _check(by: str | None) -> None:
    if by is not None and by not in GROUPINGS:
        raise ValidationError(f"--by 须为 {'/'.join(GROUPINGS)}", f"--by must be one of {', '.join(GROUPINGS)}")


def _case_key(session: Session, by: str | None) -> Any:
    """What case rows are grouped by for `by` (None: not grouped)."""
    if by is None:
        return None
    if by in PLACE_LEVELS:
        return Case.unit_id
    if by in GRAINS:
        return local_bucket(session, Case.created_at, by)
    return {
        "tier": Case.tier,
        "category": Case.category_id,
        "unit": func.coalesce(Case.responsible_unit_id, 0),
    }[by]


def _finish(
    session: Session,
    by: str | None,
    groups: dict[Any, dict[str, float]],
    as_of: datetime,
    date_from: date | None,
    date_to: date | None,
) -> dict[str, Any]:
    """The result document from per-group sums (the headline is their total)."""
    result = _shape(_merge(*({None: sums} for sums in groups.values())).get(None, dict.fromkeys(SUMS, 0)))
    result["as_of"] = as_of.isoformat()
    result["from"] = date_from.isoformat() if date_from else None
    result["to"] = date_to.isoformat() if date_to else None
    if by is None:
        result["by"] = []
    elif by in PLACE_LEVELS:
        result["by"] = _fold_places(session, by, groups)
    elif by in ("category", "unit"):
        result["by"] = _named(session, by, groups)
    else:
        result["by"] = [{"key": k, "name": k, "name_en": None, **_shape(groups[k])} for k in sorted(groups)]
    return result


def _scope_units(session: Session, unit_path: str | None) -> list[int] | None:
    """The ids of the places inside `unit_path`, or None when it holds every case (no path, or the only root)."""
    if not unit_path:
        return None
    units = session.execute(select(AdminUnit.id, AdminUnit.path, AdminUnit.parent_id)).all()
    roots = [u for u in units if u.parent_id is None]
    if len(roots) == 1 and roots[0].path == unit_path:
        return None
    return [u.id for u in units if u.path.startswith(unit_path)]


def _rolled(
    session: Session, kind: str, key: Any, date_from: date | None, date_to: date | None, units: list[int] | None
) -> dict[Any, dict[str, float]]:
    """Sums of closed cases from the rollup, per `key` (a ClosedRollup column)."""
    r = ClosedRollup
    stmt = select(
        (literal(None) if key is None else key).label("key"),
        func.sum(r.cases).label("cases"),
        func.sum(r.on_time).label("on_time"),
        func.sum(r.rework).label("rework"),
        func.sum(r.supervised).label("supervised"),
        func.sum(r.hours_sum).label("hours_sum"),
        func.sum(r.hours_n).label("hours_n"),
    ).where(r.kind == kind)
    if date_from:
        stmt = stmt.where(r.day >= date_from.isoformat())
    if date_to:
        stmt = stmt.where(r.day <= date_to.isoformat())
    if units is not None:
        stmt = stmt.where(r.key_id.in_(units))
    result = {}
    for row in session.execute(stmt if key is None else stmt.group_by(key)).all():
        if not row.cases:
            continue
        sums = dict.fromkeys(SUMS, 0)
        cases = int(row.cases or 0)
        sums.update(
            total=cases,
            due=cases,
            closed=cases,
            closed_on_time=int(row.on_time or 0),
            rework=int(row.rework or 0),
            supervised=int(row.supervised or 0),
            hours_sum=float(row.hours_sum or 0.0),
            hours_n=int(row.hours_n or 0),
        )
        result[row.key] = sums
    return result


def _live(
    session: Session,
    key: Any,
    metrics: list[Any],
    date_from: date | None,
    date_to: date | None,
    units: list[int] | None,
) -> dict[Any, dict[str, float]]:
    """Sums of the open cases (the ones whose figures depend on the instant), counted from case_file."""
    where = _population(date_from, date_to, units)
    where.append(is_open())
    stmt = select(*metrics) if key is None else select(key.label("key"), *metrics).group_by(key)
    rows = session.execute(stmt.select_from(Case).where(*where)).all()
    return {getattr(row, "key", None): _sums(row) for row in rows if row.total}


def _merge(*parts: dict[Any, dict[str, float]]) -> dict[Any, dict[str, float]]:
    merged: dict[Any, dict[str, float]] = {}
    for part in parts:
        for key, sums in part.items():
            _add(merged.setdefault(key, dict.fromkeys(SUMS, 0)), sums)
    return merged


def _bucket(day: str, grain: str) -> str:
    if grain == "day":
        return day
    if grain == "month":
        return day[:7]
    monday = date.fromisoformat(day)
    return (monday - timedelta(days=monday.weekday())).isoformat()


def _named(session: Session, by: str, sums: dict[Any, dict[str, float]]) -> list[dict[str, Any]]:
    """Rows keyed by category or responsible unit id (0: not dispatched), with codes and names, in code order."""
    model = Category if by == "category" else ResponsibleUnit
    ids = [key for key in sums if key]
    names = {
        row.id: row
        for row in session.execute(
            select(model.id, model.code, model.name, getattr(model, "name_en", literal(None)).label("name_en")).where(
                model.id.in_(ids)
            )
        ).all()
    }
    rows = []
    for key, part in sums.items():
        named = names.get(key)
        rows.append(
            {
                "key": named.code if named else "-",
                "name": named.name if named else None,
                "name_en": named.name_en if named else None,
                **_shape(part),
            }
        )
    return sorted(rows, key=lambda row: row["key"])


def statistics(
    session: Session,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    by: str | None = None,
    as_of: datetime | None = None,
    unit_path: str | None = None,
) -> dict[str, Any]:
    """The figures of CONTRACT.md's `stats`; `date_to` is inclusive, days are Asia/Shanghai days. `by` adds rows
    per responsible unit, category, tier, day/week/month (of creation), or district/township/village (the
    ancestor of the case's place at that level); `unit_path` limits everything to one unit's subtree.

    Closed cases come from the rollup (models.closed_rollup), open ones are counted live; the sum of the two is
    what `scan_statistics` computes from case_file alone."""
    as_of = as_of or utcnow()
    _check(by)
    units = _scope_units(session, unit_path)
    if by == "tier" or (by in ("category", "unit") and units is not None):
        return scan_statistics(session, date_from=date_from, date_to=date_to, by=by, as_of=as_of, unit_path=unit_path)
    _population(date_from, date_to, None)  # checks the dates
    window = (date_from, date_to, units)
    r = ClosedRollup
    live = _live(session, _case_key(session, by), _metrics(session, as_of), *window)
    if by in GRAINS:
        days = _rolled(session, "place", r.day, *window)
        closed = _merge(*({_bucket(day, by): sums} for day, sums in days.items()))
    elif by in ("category", "unit"):
        closed = _rolled(session, by, r.key_id, *window)
    elif by in PLACE_LEVELS:
        closed = _rolled(session, "place", r.key_id, *window)
    else:
        closed = _rolled(session, "place", None, *window)
    return _finish(session, by, _merge(closed, live), as_of, date_from, date_to)


def ranking(rows: list[dict[str, Any]], metric: str, count: int = 5) -> dict[str, list[dict[str, Any]]]:
    """Best and worst `count` rows of a `statistics(by=…)` result by closure rate, on-time closure rate (rows with
    nothing due are not ranked) or overdue (fewest first). Ties go to the larger number of cases."""
    if metric not in RANK_METRICS:
        raise ValidationError(f"排名指标须为 {'/'.join(RANK_METRICS)}", f"metric must be one of {RANK_METRICS}")
    if metric == "overdue":
        ranked = sorted(rows, key=lambda r: (r["overdue"], -r["counts"]["total"]))
    else:
        rated = [r for r in rows if r[metric] is not None]
        ranked = sorted(rated, key=lambda r: (-r[metric], -r["counts"]["total"]))
    numbered = [{"rank": i, **row} for i, row in enumerate(ranked, start=1)]
    return {"top": numbered[:count], "bottom": list(reversed(numbered[-count:])) if numbered else []}


def trend(
    session: Session,
    grain: str,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    as_of: datetime | None = None,
    unit_path: str | None = None,
) -> list[dict[str, Any]]:
    """Per day/week/month of the period: cases opened, cases closed (by their closing time), and the closure and
    on-time closure rates of the cases opened then."""
    if grain not in GRAINS:
        raise ValidationError(f"粒度须为 {'/'.join(GRAINS)}", f"grain must be one of {', '.join(GRAINS)}")
    opened = statistics(session, date_from=date_from, date_to=date_to, by=grain, as_of=as_of, unit_path=unit_path)
    units = _scope_units(session, unit_path)
    closed: dict[str, int] = {}
    for day, sums in _rolled(session, "closed", ClosedRollup.day, date_from, date_to, units).items():
        bucket = _bucket(day, grain)
        closed[bucket] = closed.get(bucket, 0) + int(sums["closed"])
    rows = {
        row["key"]: {
            "period": row["key"],
            "opened": row["counts"]["total"],
            "closed": 0,
            "closure_rate": row["closure_rate"],
            "on_time_closure_rate": row["on_time_closure_rate"],
        }
        for row in opened["by"]
    }
    for period, count in closed.items():
        rows.setdefault(
            period,
            {"period": period, "opened": 0, "closed": 0, "closure_rate": None, "on_time_closure_rate": None},
        )["closed"] = int(count)
    return [rows[key] for key in sorted(rows)]


def open_case_points(
    session: Session, *, unit_path: str | None = None, as_of: datetime | None = None, limit: int = MAP_LIMIT
) -> list[dict[str, Any]]:
    """Open cases with coordinates for the map, overdue ones first, then the most recent; at most `limit`.
    Category names are looked up apart: joined in, they lead SQLite to walk every case of every category."""
    as_of = as_of or utcnow()
    late = overdue_condition(as_of)
    where = [is_open(), Case.lat.is_not(None), Case.lon.is_not(None)]
    units = _scope_units(session, unit_path)
    if units is not None:
        where.append(Case.unit_id.in_(units))
    stmt = (
        select(Case.number, Case.lat, Case.lon, Case.state, Case.category_id, case((late, 1), else_=0).label("late"))
        .where(*where)
        .order_by(case((late, 0), else_=1), Case.created_at.desc())
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    names = dict(session.execute(select(Category.id, Category.name)).all())
    return [
        {
            "number": r.number,
            "lat": r.lat,
            "lon": r.lon,
            "state": r.state,
            "category": names.get(r.category_id),
            "overdue": bool(r.late),
        }
        for r in rows
    ]
