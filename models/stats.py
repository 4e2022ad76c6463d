"""Leadership statistics, computed in the database (aggregates, no row loading), the same on SQLite and PostgreSQL.

Definitions (数字城管 practice):
- population: cases created in the period, less rejected and merged ones;
- due (应结案): of those, the closed ones and the ones whose rectification deadline has passed as of `as_of`;
- closure rate (结案率) = closed ÷ due; on-time closure rate (按期结案率) = closed by the deadline ÷ due;
- average handling time: created -> closed, closed cases only, in hours;
- overdue: open, not parked, past the deadline of the stage it is in (review, acknowledgement, rectification);
- rework: verify-fail count summed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from models.cases import Case, State
from models.db import utcnow
from models.errors import ValidationError
from models.org import ResponsibleUnit
from models.taxonomy import Category

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
GROUPINGS = ("unit", "category", "tier", "month")


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def _hours_between(session: Session, start: Any, end: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 24.0
    return func.extract("epoch", end - start) / 3600.0


def _local_month(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m", Case.created_at, "+8 hours")
    return func.to_char(func.timezone("Asia/Shanghai", Case.created_at), "YYYY-MM")


def _metrics(session: Session, as_of: datetime) -> list[ColumnElement[Any]]:
    def count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    closed = Case.state == State.CLOSED.value
    due = or_(closed, and_(Case.rectify_due.is_not(None), Case.rectify_due <= as_of))
    overdue = or_(
        and_(Case.state == State.REVIEWING.value, Case.review_due < as_of),
        and_(Case.state == State.DISPATCHED.value, or_(Case.ack_due < as_of, Case.rectify_due < as_of)),
        and_(Case.state == State.ACKNOWLEDGED.value, Case.rectify_due < as_of),
        Case.overdue.is_(True) & Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value]),
    )
    hours = _hours_between(session, Case.created_at, Case.closed_at)
    return [
        func.count().label("total"),
        count_if(due).label("due"),
        count_if(closed).label("closed"),
        count_if(and_(closed, Case.closed_on_time.is_(True))).label("closed_on_time"),
        count_if(overdue).label("overdue"),
        func.coalesce(func.sum(Case.rework_count), 0).label("rework"),
        func.avg(case((closed, hours), else_=None)).label("avg_hours"),
        count_if(Case.state == State.REVIEWING.value).label("reviewing"),
        count_if(Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value])).label("in_rectification"),
        count_if(Case.state == State.RECTIFIED.value).label("awaiting_verification"),
        count_if(Case.state == State.PARKED.value).label("parked"),
        count_if(Case.supervised.is_(True)).label("supervised"),
    ]


def _shape(row: Any) -> dict[str, Any]:
    due = int(row.due)
    avg = float(row.avg_hours) if row.avg_hours is not None else None
    return {
        "closure_rate": round(row.closed / due, 4) if due else None,
        "on_time_closure_rate": round(row.closed_on_time / due, 4) if due else None,
        "avg_handling_hours": round(avg, 2) if avg is not None else None,
        "overdue": int(row.overdue),
        "rework": int(row.rework),
        "counts": {
            "total": int(row.total),
            "due": due,
            "closed": int(row.closed),
            "closed_on_time": int(row.closed_on_time),
            "reviewing": int(row.reviewing),
            "in_rectification": int(row.in_rectification),
            "awaiting_verification": int(row.awaiting_verification),
            "parked": int(row.parked),
            "supervised": int(row.supervised),
        },
    }


def statistics(
    session: Session,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    by: str | None = None,
    as_of: datetime | None = None,
    unit_path: str | None = None,
) -> dict[str, Any]:
    """The figures of CONTRACT.md's `stats`; `date_to` is inclusive, days are Asia/Shanghai days."""
    as_of = as_of or utcnow()
    if by is not None and by not in GROUPINGS:
        raise ValidationError(f"--by 须为 {'/'.join(GROUPINGS)}", f"--by must be one of {', '.join(GROUPINGS)}")
    if date_from and date_to and date_from > date_to:
        raise ValidationError("起始日期晚于结束日期", "--from is after --to")
    where: list[ColumnElement[bool]] = [Case.state.not_in([State.REJECTED.value, State.MERGED.value])]
    if date_from:
        where.append(Case.created_at >= local_day_start(date_from))
    if date_to:
        where.append(Case.created_at < local_day_start(date_to + timedelta(days=1)))
    if unit_path:
        where.append(Case.unit_path.startswith(unit_path))
    metrics = _metrics(session, as_of)
    overall = session.execute(select(*metrics).select_from(Case).where(*where)).one()
    result = _shape(overall)
    result["as_of"] = as_of.isoformat()
    result["from"] = date_from.isoformat() if date_from else None
    result["to"] = date_to.isoformat() if date_to else None
    result["by"] = []
    if by is None:
        return result
    stmt: Any
    if by == "unit":
        key = func.coalesce(ResponsibleUnit.code, literal("-"))
        stmt = (
            select(key.label("key"), func.max(ResponsibleUnit.name).label("name"), *metrics)
            .select_from(Case)
            .outerjoin(ResponsibleUnit, ResponsibleUnit.id == Case.responsible_unit_id)
        )
    elif by == "category":
        key = Category.code
        stmt = (
            select(key.label("key"), func.max(Category.name).label("name"), *metrics)
            .select_from(Case)
            .join(Category, Category.id == Case.category_id)
        )
    elif by == "tier":
        key = Case.tier
        stmt = select(key.label("key"), key.label("name"), *metrics).select_from(Case)
    else:
        key = _local_month(session)
        stmt = select(key.label("key"), key.label("name"), *metrics).select_from(Case)
    rows = session.execute(stmt.where(*where).group_by(key).order_by(key)).all()
    result["by"] = [{"key": row.key, "name": row.name, **_shape(row)} for row in rows]
    return result
