"""Daily statistics snapshots: what leadership saw at the end of each day, kept so that trends do not have to be
recomputed from every case and so that a figure once reported stays reproducible."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.db import Base, UTCDateTime
from models.stats import local_day_start, statistics

GROUPINGS: tuple[str | None, ...] = (None, "unit", "category", "tier")


class StatsSnapshot(Base):
    __tablename__ = "stats_snapshot"
    __table_args__ = (UniqueConstraint("day", "grouping"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    grouping: Mapped[str] = mapped_column(String(16))  # "all", "unit", "category", "tier"
    figures: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())


def snapshot_day(session: Session, day: date, now: datetime) -> int:
    """Statistics of cases created on `day` (Asia/Shanghai), as of the end of that day; replaces that day's
    earlier snapshot. Returns the number of rows written."""
    end = local_day_start(day + timedelta(days=1))
    written = 0
    for by in GROUPINGS:
        figures = statistics(session, date_from=day, date_to=day, by=by, as_of=min(end, now))
        key = by or "all"
        row = session.execute(
            select(StatsSnapshot).where(StatsSnapshot.day == day, StatsSnapshot.grouping == key)
        ).scalar_one_or_none()
        if row is None:
            session.add(StatsSnapshot(day=day, grouping=key, figures=figures, computed_at=now))
        else:
            row.figures, row.computed_at = figures, now
        written += 1
    session.flush()
    return written
