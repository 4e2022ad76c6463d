"""Who and where: the administrative tree, responsible units and their contacts, users, cameras."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.db import Base, UTCDateTime


class Level(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    TOWNSHIP = "township"
    VILLAGE = "village"
    GRID = "grid"


class Tier(StrEnum):
    VILLAGE = "village"
    TOWNSHIP = "township"
    CITY = "city"


TIER_ORDER: tuple[Tier, ...] = (Tier.VILLAGE, Tier.TOWNSHIP, Tier.CITY)

# The review centre each level of the tree belongs to: 村/社区, 乡镇/街道, 市/县(区).
LEVEL_TIER: dict[Level, Tier] = {
    Level.CITY: Tier.CITY,
    Level.DISTRICT: Tier.CITY,
    Level.TOWNSHIP: Tier.TOWNSHIP,
    Level.VILLAGE: Tier.VILLAGE,
    Level.GRID: Tier.VILLAGE,
}


class Role(StrEnum):
    INSPECTOR = "inspector"
    REVIEWER = "reviewer"
    DISPATCHER = "dispatcher"
    LEADER = "leader"
    ADMIN = "admin"


class AdminUnit(Base):
    """One node of 市 > 区/县 > 乡镇/街道 > 村/社区 > 网格, with its statistical division code."""

    __tablename__ = "admin_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    # Materialised path of ids, "/1/5/40/", so that "inside this unit" is one prefix comparison.
    path: Mapped[str] = mapped_column(String(200), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)

    parent: Mapped[AdminUnit | None] = relationship(remote_side=[id])

    @property
    def tier(self) -> Tier:
        return LEVEL_TIER[Level(self.level)]

    def contains(self, other: AdminUnit) -> bool:
        return other.path.startswith(self.path)


class ResponsibleUnit(Base):
    """A unit that fixes problems (责任单位): a township government, a village committee, a city department."""

    __tablename__ = "responsible_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24))  # government, committee, department
    area_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)

    area: Mapped[AdminUnit] = relationship()
    contacts: Mapped[list[UnitContact]] = relationship(back_populates="unit", order_by="UnitContact.priority")


class UnitContact(Base):
    """An SMS contact of a responsible unit. The number is kept sealed; only its mask and a keyed digest
    (to recognise replies) are readable without the key."""

    __tablename__ = "unit_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("responsible_unit.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=1)  # 1 primary, 2 backup, …
    phone_sealed: Mapped[str] = mapped_column(Text)
    phone_digest: Mapped[str] = mapped_column(String(64), index=True)
    phone_masked: Mapped[str] = mapped_column(String(24))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    unit: Mapped[ResponsibleUnit] = relationship(back_populates="contacts")


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    admin_unit_id: Mapped[int | None] = mapped_column(ForeignKey("admin_unit.id"))
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_unit.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # the identity an OIDC provider vouches for (st.login); a signed-in e-mail maps to at most one account
    email: Mapped[str | None] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    admin_unit: Mapped[AdminUnit | None] = relationship()
    responsible_unit: Mapped[ResponsibleUnit | None] = relationship()

    @property
    def unit_code(self) -> str | None:
        if self.responsible_unit is not None:
            return self.responsible_unit.code
        return self.admin_unit.code if self.admin_unit is not None else None


class CameraSource(Base):
    """A device or NVR that posts alarms, with its credentials (only digests are stored)."""

    __tablename__ = "camera_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_digest: Mapped[str | None] = mapped_column(String(128))
    basic_username: Mapped[str | None] = mapped_column(String(64))
    basic_password_digest: Mapped[str | None] = mapped_column(String(255))


class Camera(Base):
    __tablename__ = "camera"
    __table_args__ = (UniqueConstraint("vendor", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # vendor serial + ":" + channel, or the 20-digit GB/T 28181 device id, or a Frigate camera name
    external_id: Mapped[str] = mapped_column(String(80))
    vendor: Mapped[str] = mapped_column(String(16))  # hikvision, dahua, gb28181, frigate, generic
    serial: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[int | None] = mapped_column(Integer)
    gb_device_id: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(24))  # public_road, residential, checkpoint, high_altitude
    unit_id: Mapped[int] = mapped_column(ForeignKey("admin_unit.id"), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("camera_source.id"), index=True)
    maintenance_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # where the patrol console fetches a current picture: an HTTP(S) snapshot URL, an RTSP stream, or a clip
    snapshot_url: Mapped[str | None] = mapped_column(String(500))

    unit: Mapped[AdminUnit] = relationship()
    source: Mapped[CameraSource | None] = relationship()


CAMERA_KINDS: dict[str, str] = {
    "public_road": "公共道路",
    "residential": "智慧看家",
    "checkpoint": "卡口",
    "high_altitude": "高空瞭望",
}


class ApiClient(Base):
    """A system allowed to post citizen reports (Open311 api_key, hotline bridge); only the key's digest is kept."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_digest: Mapped[str] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
