"""Closed cases summed per Asia/Shanghai day, kept exact in the same transaction as every case change.

A closed case's part in the statistics never depends on the instant they are computed for (it is due, closed,
on time or not, with a fixed handling time), so it can be added up in advance; open cases are few and are
counted live (models.stats). Four sums are kept, one row per (kind, day, key):

- place: per day of creation and place (Case.unit_id), for the headline, the places and the trends;
- category, unit: per day of creation and category / responsible unit (0: none), for city-wide breakdowns;
- closed: per day of closing and place, for "closed per day" in the trends.

Every flush of a session that inserts, changes or deletes a Case takes the case's old part out and puts its new
part in (`_follow_cases`, an after_flush hook: the same transaction, so a rolled-back change leaves no trace).
models.commands imports this module, so every process that changes cases keeps the sums. Rows written outside
the ORM (bulk loads, repairs) are accounted by `rebuild`, which recomputes everything from case_file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Index,
    Integer,
    String,
    bindparam,
    delete,
    event,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, UOWTransaction, attributes, mapped_column

from models.cases import OPEN_STATES, Case, State
from models.db import Base

KINDS = ("place", "category", "unit", "closed")
SHANGHAI = timedelta(hours=8)  # Asia/Shanghai has kept UTC+8, without daylight saving, since 1991
FIELDS = (
    "state",
    "created_at",
    "closed_at",
    "closed_on_time",
    "rework_count",
    "supervised",
    "unit_id",
    "category_id",
    "responsible_unit_id",
)
SUMMED = ("cases", "on_time", "rework", "supervised", "hours_sum", "hours_n")


# The open cases, counted live, in one fixed order: the partial index below is only used by a query whose
# condition is written exactly like the index's own (SQLite compares the two expressions, literals included).
OPEN = tuple(state.value for state in State if state in OPEN_STATES)


def is_open() -> ColumnElement[bool]:
    """Case.state among the open states, with the states written into the SQL (not bound), as the index has it."""
    return Case.state.in_(bindparam("open_states", OPEN, expanding=True, literal_execute=True))


# Everything the live statistics and the map read of an open case, so that both read this small index alone
# (an index-only scan) instead of visiting tens of thousands of scattered table pages.
_c = Case.__table__.c
Index(
    "ix_case_file_open",
    _c.created_at,
    _c.unit_id,
    _c.category_id,
    _c.responsible_unit_id,
    _c.state,
    _c.tier,
    _c.review_due,
    _c.ack_due,
    _c.rectify_due,
    _c.overdue,
    _c.supervised,
    _c.rework_count,
    _c.closed_at,
    _c.closed_on_time,
    _c.lat,
    _c.lon,
    _c.number,
    sqlite_where=_c.state.in_(OPEN),
    postgresql_where=_c.state.in_(OPEN),
)
# Every case by place and day with what its figures need: breakdowns inside a unit's scope (by category or
# responsible unit, which the rollup does not keep per place) read a few places' ranges of this index alone
# instead of fetching each case row (about 5x faster at a million cases). It also serves every lookup by place,
# so it replaces the plain index on unit_id.
Index(
    "ix_case_file_scope",
    _c.unit_id,
    _c.created_at,
    _c.state,
    _c.category_id,
    _c.responsible_unit_id,
    _c.closed_at,
    _c.closed_on_time,
    _c.rectify_due,
    _c.rework_count,
    _c.supervised,
    _c.review_due,
    _c.ack_due,
    _c.overdue,
)


class ClosedRollup(Base):
    __tablename__ = "closed_rollup"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, Asia/Shanghai
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cases: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    rework: Mapped[int] = mapped_column(Integer, default=0)
    supervised: Mapped[int] = mapped_column(Integer, default=0)
    hours_sum: Mapped[float] = mapped_column(Float, default=0.0)
    hours_n: Mapped[int] = mapped_column(Integer, default=0)


def local_day(value: datetime) -> str:
    return (value.astimezone(UTC) + SHANGHAI).strftime("%Y-%m-%d")


def _values(case: Case, before: bool) -> dict[str, Any]:
    """The rollup fields of `case` as committed (before) or as flushed now."""
    values = {}
    for name in FIELDS:
        history = attributes.get_history(case, name)
        if before:
            old = history.deleted or history.unchanged
            values[name] = old[0] if old else None
        else:
            values[name] = getattr(case, name)
    return values


def _parts(values: dict[str, Any] | None) -> list[tuple[str, str, int, dict[str, float]]]:
    """The rows a case adds to: none unless it is closed."""
    if not values or values["state"] != State.CLOSED.value or values["created_at"] is None:
        return []
    created, closed = values["created_at"], values["closed_at"]
    hours = (closed - created).total_seconds() / 3600.0 if closed is not None else None
    sums = {
        "cases": 1,
        "on_time": 1 if values["closed_on_time"] else 0,
        "rework": values["rework_count"] or 0,
        "supervised": 1 if values["supervised"] else 0,
        "hours_sum": hours or 0.0,
        "hours_n": 0 if hours is None else 1,
    }
    day = local_day(created)
    parts = [
        ("place", day, values["unit_id"], sums),
        ("category", day, values["category_id"], sums),
        ("unit", day, values["responsible_unit_id"] or 0, sums),
    ]
    if closed is not None:
        parts.append(("closed", local_day(closed), values["unit_id"], sums))
    return parts


@event.listens_for(Session, "after_flush")
def _follow_cases(session: Session, flush_context: UOWTransaction) -> None:
    deltas: dict[tuple[str, str, int], dict[str, float]] = {}
    for case in chain(session.new, session.dirty, session.deleted):
        if not isinstance(case, Case):
            continue
        before = None if case in session.new else _values(case, before=True)
        after = None if case in session.deleted else _values(case, before=False)
        if before == after:
            continue
        for sign, values in ((-1, before), (1, after)):
            for kind, day, key, sums in _parts(values):
                row = deltas.setdefault((kind, day, key), dict.fromkeys(SUMMED, 0))
                for name, value in sums.items():
                    row[name] += sign * value
    deltas = {key: row for key, row in deltas.items() if any(row.values())}
    if not deltas:
        return
    connection = session.connection()
    table = ClosedRollup.__table__
    stmt = (pg_insert if connection.dialect.name == "postgresql" else sqlite_insert)(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "day", "key_id"],
        set_={name: table.c[name] + stmt.excluded[name] for name in SUMMED},
    )
    connection.execute(
        stmt, [{"kind": kind, "day": day, "key_id": key, **row} for (kind, day, key), row in deltas.items()]
    )


def day_expression(dialect: str, column: Any) -> Any:
    """The Asia/Shanghai day of a stored instant as YYYY-MM-DD, in SQL (as `local_day` does in Python)."""
    if dialect == "sqlite":
        return func.date(column, "+8 hours")
    return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")


def _hours(dialect: str) -> Any:
    if dialect == "sqlite":
        return (func.julianday(Case.closed_at) - func.julianday(Case.created_at)) * 24.0
    return func.extract("epoch", Case.closed_at - Case.created_at) / 3600.0


def rebuild(connection: Connection) -> int:
    """Recompute every row from case_file (after a bulk load, in the migration that made the table, or to
    repair); returns the rows written. Takes a connection so that a migration can call it."""
    dialect = connection.dialect.name
    connection.execute(delete(ClosedRollup))
    hours = _hours(dialect)
    created = day_expression(dialect, Case.created_at)
    keys = {
        "place": (created, Case.unit_id),
        "category": (created, Case.category_id),
        "unit": (created, func.coalesce(Case.responsible_unit_id, 0)),
        "closed": (day_expression(dialect, Case.closed_at), Case.unit_id),
    }
    written = 0
    for kind, (day, key) in keys.items():
        where = [Case.state == State.CLOSED.value]
        if kind == "closed":
            where.append(Case.closed_at.is_not(None))
        source = (
            select(
                literal(kind),
                day,
                key,
                func.count(),
                func.sum(func.coalesce(func.cast(Case.closed_on_time, Integer), 0)),
                func.sum(Case.rework_count),
                func.sum(func.cast(Case.supervised, Integer)),
                func.coalesce(func.sum(hours), 0.0),
                func.count(hours),
            )
            .where(*where)
            .group_by(day, key)
        )
        result = connection.execute(insert(ClosedRollup).from_select(["kind", "day", "key_id", *SUMMED], source))
        written += result.rowcount or 0
    return written
