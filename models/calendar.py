"""Working time, for SLA clocks that count only office hours (an optional calendar per routing rule).

Working days are Monday to Friday unless `calendar_day` says otherwise (public holidays off, 调休 weekend days
on). Working hours are 08:30-12:00 and 13:30-17:30 Asia/Shanghai. All arithmetic is in local time and the
results are returned in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, Date, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.db import Base

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(13, 30), time(17, 30)))
MAX_DAYS = 3660


class CalendarDay(Base):
    """An exception to the Monday-Friday rule: a holiday (working False) or a swapped working day (True)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(64), default="")


class WorkCalendar:
    def __init__(self, overrides: dict[date, bool] | None = None) -> None:
        self.overrides = overrides or {}

    @classmethod
    def load(cls, session: Session) -> WorkCalendar:
        return cls({row.day: row.working for row in session.execute(select(CalendarDay)).scalars()})

    def is_working_day(self, day: date) -> bool:
        return self.overrides.get(day, day.weekday() < 5)

    def _periods(self, day: date) -> list[tuple[datetime, datetime]]:
        if not self.is_working_day(day):
            return []
        return [
            (datetime.combine(day, a, tzinfo=LOCAL_TZ), datetime.combine(day, b, tzinfo=LOCAL_TZ)) for a, b in PERIODS
        ]

    def add_hours(self, start: datetime, hours: float) -> datetime:
        """The moment when `hours` of working time have passed after `start`."""
        remaining = timedelta(hours=hours)
        cursor = start.astimezone(LOCAL_TZ)
        for offset in range(MAX_DAYS):
            day = cursor.date() + timedelta(days=offset)
            for begin, end in self._periods(day):
                begin = max(begin, cursor)
                if begin >= end:
                    continue
                if end - begin >= remaining:
                    return (begin + remaining).astimezone(UTC)
                remaining -= end - begin
        raise ValueError("no working time found within ten years; check the calendar")

    def add_days(self, start: datetime, days: int) -> datetime:
        """The end of the `days`-th working day after the day of `start` (17:30 local)."""
        day = start.astimezone(LOCAL_TZ).date()
        counted = 0
        for _ in range(MAX_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted >= days:
                    return datetime.combine(day, PERIODS[-1][1], tzinfo=LOCAL_TZ).astimezone(UTC)
        raise ValueError("no working day found within ten years; check the calendar")
