"""What kind of problem, and who handles it where: categories and versioned routing rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime
from models.org import AdminUnit, ResponsibleUnit


class Category(Base):
    """GB/T 30428-style class: kind component (部件) or event (事件), major and minor class codes."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # component, event
    major_code: Mapped[str] = mapped_column(String(4))
    major_name: Mapped[str] = mapped_column(String(64))
    minor_code: Mapped[str] = mapped_column(String(4))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RoutingRule(Base):
    """Category x area -> starting tier, responsible unit and SLAs.

    Rules are versioned: an edit deactivates the row and inserts a new one with the next version under the
    same `key`, so a case keeps pointing at the exact rule it was routed by. A rule with no category or no area
    matches any; the most specific active rule wins (category before area, deeper area before shallower).
    """

    __tablename__ = "routing_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    start_tier: Mapped[str] = mapped_column(String(16), default="village")
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_unit.id"))
    review_hours_village: Mapped[float] = mapped_column(Float, default=1.0)
    review_hours_township: Mapped[float] = mapped_column(Float, default=1.0)
    review_hours_city: Mapped[float] = mapped_column(Float, default=1.0)
    ack_hours: Mapped[float] = mapped_column(Float, default=1.0)
    rectify_hours: Mapped[float] = mapped_column(Float, default=72.0)
    # When set, rectification is due at the end of this many working days instead of after rectify_hours.
    rectify_working_days: Mapped[int | None] = mapped_column(Integer)
    # "24x7": SLA hours are clock hours; "working": they count only working time (models.calendar).
    calendar: Mapped[str] = mapped_column(String(16), default="24x7", server_default="24x7")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64), default="system")

    category: Mapped[Category | None] = relationship()
    area: Mapped[AdminUnit | None] = relationship()
    responsible_unit: Mapped[ResponsibleUnit | None] = relationship()

    def review_hours(self, tier: str) -> float:
        return float(getattr(self, f"review_hours_{tier}"))


class SuppressionRule(Base):
    """Alarms that must not become cases for a while: a camera under maintenance, or a category snoozed
    (in an area, or everywhere) until `until`. Expired rules simply stop matching."""

    __tablename__ = "suppression_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(200))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id"))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by: Mapped[str] = mapped_column(String(64))

    category: Mapped[Category | None] = relationship()
    area: Mapped[AdminUnit | None] = relationship()
