"""The case (案卷), its append-only hash-chained history, the outbox, evidence and SMS notices."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime
from models.org import AdminUnit, Camera, ResponsibleUnit
from models.taxonomy import Category, RoutingRule


class State(StrEnum):
    REVIEWING = "reviewing"
    DISPATCHED = "dispatched"
    ACKNOWLEDGED = "acknowledged"
    RECTIFIED = "rectified"
    PARKED = "parked"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"


OPEN_STATES = frozenset({State.REVIEWING, State.DISPATCHED, State.ACKNOWLEDGED, State.RECTIFIED, State.PARKED})
END_STATES = frozenset({State.CLOSED, State.REJECTED, State.MERGED})


class Source(StrEnum):
    CAMERA = "camera"
    CITIZEN = "citizen"
    HOTLINE = "hotline"
    PATROL = "patrol"


class Case(Base):
    __tablename__ = "case_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"))  # the place (indexed: ix_case_file_scope)
    unit_path: Mapped[str] = mapped_column(String(200), index=True)  # copy of the place's path, for scope queries
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id"), index=True)
    routing_rule_id: Mapped[int | None] = mapped_column(ForeignKey("routing_rule.id"))
    tier: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_unit.id"), index=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rectify_due: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    extension_requested_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    parked_from: Mapped[str | None] = mapped_column(String(16))
    supervised: Mapped[bool] = mapped_column(Boolean, default=False)  # 督办
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    rework_count: Mapped[int] = mapped_column(Integer, default=0)
    reporter_count: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    closed_on_time: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))

    category: Mapped[Category] = relationship()
    unit: Mapped[AdminUnit] = relationship()
    camera: Mapped[Camera | None] = relationship()
    routing_rule: Mapped[RoutingRule | None] = relationship()
    responsible_unit: Mapped[ResponsibleUnit | None] = relationship()
    merged_into: Mapped[Case | None] = relationship(remote_side=[id])
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.seq")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="case", order_by="Evidence.id")

    # The row version doubles as the optimistic lock: an UPDATE whose version no longer matches fails.
    __mapper_args__ = {"version_id_col": version}


class CaseEvent(Base):
    """One step of a case's history. Rows are only ever inserted; each carries the hash of the one before."""

    __tablename__ = "case_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    from_tier: Mapped[str | None] = mapped_column(String(16))
    to_tier: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    case: Mapped[Case] = relationship(back_populates="events")


class CaseCounter(Base):
    """Per-day case number sequence (LY-20261125-0001), day in Asia/Shanghai."""

    __tablename__ = "case_counter"

    prefix: Mapped[str] = mapped_column(String(32), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Outbox(Base):
    """Domain events written in the same transaction as the change they announce; relayed at least once."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # when the matching Prefect event was emitted (its id derives from this row, so a re-emit is deduplicated)
    emitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # snapshot, keyframe, clip, contact_sheet, photo, after_photo
    uri: Mapped[str | None] = mapped_column(String(500))
    redacted_uri: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(500))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    face_count: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, ready, failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64), default="system")

    case: Mapped[Case] = relationship(back_populates="evidence")


class Notice(Base):
    """One SMS to one contact about one case. The idempotency key is stored before any provider call."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("responsible_unit.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("unit_contact.id"))
    kind: Mapped[str] = mapped_column(String(16), default="dispatch")  # dispatch, reminder, rework
    body: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(16))
    provider_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Signal(Base):
    """One raw inbound item, raw bytes kept; the idempotency key recognises a redelivery."""

    __tablename__ = "signal"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(24), index=True)
    type: Mapped[str | None] = mapped_column(String(48))
    state: Mapped[str | None] = mapped_column(String(16))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id"), index=True)
    camera_ref: Mapped[str | None] = mapped_column(String(120))
    time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    time_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    content_type: Mapped[str | None] = mapped_column(String(120))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # new, then cased | attached | linked | suppressed
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    suppressed_by: Mapped[str | None] = mapped_column(String(120))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DeadLetter(Base):
    """An inbound body that could not be understood, kept as received for operators to inspect and replay."""

    __tablename__ = "dead_letter"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str | None] = mapped_column(String(120))
    query: Mapped[str | None] = mapped_column(String(500))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("camera_source.id"))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replay_result: Mapped[str | None] = mapped_column(Text)
