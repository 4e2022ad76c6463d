"""Video patrol (视频巡查): plans of cameras an inspector steps through, each patrol's views and findings.

Coverage (覆盖率) is cameras viewed ÷ cameras in the plan; findings (发现问题数) are the patrol cases raised
during the patrol. Both are counted per patrol and per township, as a civilization office reports them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime
from models.org import AdminUnit, Camera


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
