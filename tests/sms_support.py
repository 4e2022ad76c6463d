"""Shared by the SMS tests: the fake Twilio server, settings pointing the real twilio client at it, a dispatched
demo case, and the unit's contacts' numbers (opened with the test key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from flows.relay import relay_once
from integrations.secrets import PhoneVault
from integrations.sms import TwilioProvider, provider_for
from integrations.twilio_fake import FakeTwilio
from models.cases import Notice
from models.commands import ActParams, act, get_user, patrol_case
from models.db import Database
from models.org import ResponsibleUnit, UnitContact
from models.settings import Settings
from tests.conftest import TEST_SECRET

UNIT = "GOV-371302001000"  # 兰山街道办事处: the demo user "dispatcher" belongs to it
PUBLIC_URL = "http://testserver"  # FastAPI's TestClient host, so signed URLs match the gateway's view
FROM_NUMBER = "+15005550006"
SERVICE_SID = "MG" + "a" * 32
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
VAULT = PhoneVault(TEST_SECRET)


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio(slow_seconds=1.0) as server:
        yield server


def twilio_settings(fake: FakeTwilio, media_dir: Path | None = None, service: bool = False, **extra: str) -> Settings:
    env = {
        "XUELIANG_SECRET_KEY": TEST_SECRET,
        "XUELIANG_SMS_PROVIDER": "twilio",
        "XUELIANG_PUBLIC_URL": PUBLIC_URL,
        "XUELIANG_TWILIO_BASE_URL": fake.url,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        **({"TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID} if service else {"TWILIO_FROM_NUMBER": FROM_NUMBER}),
        **({"XUELIANG_MEDIA_DIR": str(media_dir)} if media_dir else {}),
        **extra,
    }
    return Settings.load(environ=env)


def quick_provider(settings: Settings, **overrides: Any) -> TwilioProvider:
    """The Twilio provider with test timings: a short client timeout, tiny backoff, a high rate."""
    options: dict[str, Any] = {"timeout": 0.5, "backoff_base": 0.01, "backoff_cap": 0.05, "rate": 1000.0}
    provider = provider_for(settings, **{**options, **overrides})
    assert isinstance(provider, TwilioProvider)
    return provider


@dataclass(frozen=True)
class Contact:
    id: int
    name: str
    priority: int
    phone: str


def contacts(db: Database, unit: str = UNIT) -> list[Contact]:
    with db.read() as s:
        rows = s.execute(
            select(UnitContact)
            .join(ResponsibleUnit, ResponsibleUnit.id == UnitContact.unit_id)
            .where(ResponsibleUnit.code == unit)
            .order_by(UnitContact.priority)
        ).scalars()
        return [Contact(c.id, c.name, c.priority, VAULT.open(c.phone_sealed)) for c in rows]


def dispatched(
    db: Database,
    description: str = "人行道乱堆建筑垃圾",
    unit: str = UNIT,
    settings: Settings | None = None,
    at: datetime = T0,
    due: datetime | None = None,
) -> str:
    """A patrol case raised at `at` and dispatched to `unit` five minutes later (rectification due by `due`, or
    by the routing rule), with its notices made by the relay; returns the case number."""
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        number = patrol_case(
            s,
            username="inspector",
            category_code="E0201",
            lat=place.lat,
            lon=place.lon,
            description=description,
            now=at,
        ).number
    with db.write() as s:
        act(s, number, "dispatch", "reviewer_city", ActParams(unit=unit, due=due), now=at + timedelta(minutes=5))
    relay_once(db, settings or Settings.load(environ={}), emit=None)
    return number


def notices(db: Database, number: str | None = None) -> list[Notice]:
    from models.cases import Case

    with db.read() as s:
        stmt = select(Notice).order_by(Notice.id)
        if number:
            stmt = stmt.join(Case, Case.id == Notice.case_id).where(Case.number == number)
        return list(s.execute(stmt).scalars())
