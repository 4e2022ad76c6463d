"""A small hand-made set of cases with known statistics (used by the statistics and dashboard tests).

Seven cases in November 2026 (Asia/Shanghai) at three villages: 兰山第一社区 and 兰山第二社区 (兰山街道, 兰山区)
and 中兴社区 (九曲街道, 河东区); two categories; three responsible units. Rows are written directly so that
every date is exact. For the period 2026-11-01 … 2026-11-30 and any instant after 2026-11-20:
total 6 (one rejected case excluded), due 5, closed 4, closed on time 3 → closure 0.8, on-time 0.6,
average handling (30 + 100 + 10 + 20) / 4 = 40 h, overdue 1, rework 1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.cases import Case
from models.db import Database
from models.org import AdminUnit, ResponsibleUnit
from models.taxonomy import Category

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
VILLAGE_A, VILLAGE_B, VILLAGE_C = "371302001001", "371302001002", "371312001001"
LANSHAN, JIUQU = "371302001000", "371312001000"
CAT1, CAT2 = "C0101", "C0102"
GOV_LANSHAN, VC_B, GOV_JIUQU = "GOV-371302001000", "VC-371302001002", "GOV-371312001000"
FAR = datetime(2099, 1, 1, tzinfo=UTC)


def local(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


# (number, village, category, unit, state, created, hours to close or None, rectify due, rework)
CASES = (
    ("T-1", VILLAGE_A, CAT1, GOV_LANSHAN, "closed", local(2), 30, local(2) + timedelta(hours=72), 0),
    ("T-2", VILLAGE_A, CAT1, GOV_LANSHAN, "closed", local(3), 100, local(3) + timedelta(hours=72), 1),
    ("T-3", VILLAGE_B, CAT2, VC_B, "dispatched", local(5), None, local(8), 0),
    ("T-4", VILLAGE_B, CAT2, VC_B, "acknowledged", local(19), None, FAR, 0),
    ("T-5", VILLAGE_C, CAT1, GOV_JIUQU, "closed", local(10), 10, local(10) + timedelta(hours=72), 0),
    ("T-6", VILLAGE_C, CAT2, None, "rejected", local(11), None, None, 0),
    # 00:30 on 1 November in Shanghai is still 31 October in UTC: it belongs to November here
    ("T-7", VILLAGE_A, CAT1, GOV_LANSHAN, "closed", local(1, 0, 30), 20, local(1, 0, 30) + timedelta(hours=72), 0),
)


def add_known_cases(db: Database) -> None:
    with db.write() as session:
        places = {u.code: u for u in session.execute(select(AdminUnit)).scalars()}
        categories = {c.code: c.id for c in session.execute(select(Category)).scalars()}
        units = {u.code: u.id for u in session.execute(select(ResponsibleUnit)).scalars()}
        for number, village, category, unit, state, created, hours, rectify_due, rework in CASES:
            place = places[village]
            closed_at = created + timedelta(hours=hours) if hours is not None else None
            session.add(
                Case(
                    number=number,
                    source="patrol",
                    category_id=categories[category],
                    description="统计测试",
                    lat=place.lat,
                    lon=place.lon,
                    unit_id=place.id,
                    unit_path=place.path,
                    tier="township",
                    state=state,
                    responsible_unit_id=units[unit] if unit else None,
                    review_due=created + timedelta(hours=1),
                    ack_due=created + timedelta(hours=3) if unit else None,
                    rectify_due=rectify_due,
                    dispatched_at=created + timedelta(hours=2) if unit else None,
                    closed_at=closed_at,
                    closed_on_time=None if closed_at is None or rectify_due is None else closed_at <= rectify_due,
                    rework_count=rework,
                    created_at=created,
                    updated_at=closed_at or created,
                    created_by="inspector",
                )
            )
