"""The dispatch flow's work end to end: a case dispatched in the demo becomes one notice per primary contact, kept
in the outbox or sent to (fake) Twilio as exactly the expected POSTs; an overdue acknowledgement sends a reminder
through the same provider; signed replies acknowledge and report fixed, visible in the case history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from flows.dispatch import dispatch_notices
from flows.relay import relay_once
from integrations.gateway import create_app
from integrations.sms_webhooks import sms_router
from integrations.twilio_fake import FakeTwilio
from models.cases import Notice
from models.commands import get_case
from models.db import Database
from models.notices import segments
from models.org import ResponsibleUnit, UnitContact
from models.settings import Settings
from models.sla import run_sweep
from tests.conftest import TEST_SECRET
from tests.sms_support import (
    FROM_NUMBER,
    PUBLIC_URL,
    UNIT,
    VAULT,
    contacts,
    dispatched,
    fake,
    notices,
    quick_provider,
    twilio_settings,
)

__all__ = ["fake"]  # the fixture, imported for pytest


def primary_contacts(db: Database, unit: str = UNIT) -> list[int]:
    with db.read() as s:
        rows = s.execute(
            select(UnitContact.id, UnitContact.priority)
            .join(ResponsibleUnit, ResponsibleUnit.id == UnitContact.unit_id)
            .where(ResponsibleUnit.code == unit, UnitContact.active.is_(True))
        ).all()
    top = min(p for _, p in rows)
    return sorted(i for i, p in rows if p == top)


def test_a_dispatched_case_makes_one_notice_per_primary_contact_in_the_outbox(demo: Database) -> None:
    settings = Settings.load(environ={"XUELIANG_SECRET_KEY": TEST_SECRET})
    number = dispatched(demo, settings=settings)
    sent = dispatch_notices(demo, settings, number)
    rows = notices(demo, number)
    assert sorted(n.contact_id for n in rows) == primary_contacts(demo) and sorted(sent) == [n.id for n in rows]
    for notice in rows:
        assert (notice.status, notice.provider, notice.provider_sid) == ("stored", "outbox", f"OUTBOX{notice.id:010d}")
        assert notice.body.startswith("【雪亮】派遣通知 " + number) and "回复“收到”签收" in notice.body
        assert segments(notice.body) <= 2
    assert dispatch_notices(demo, settings, number) == []  # nothing is sent twice


def test_the_same_case_through_twilio_makes_exactly_the_expected_posts(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    dispatch_notices(demo, settings, number, provider=quick_provider(settings))
    phones = {c.id: c.phone for c in contacts(demo)}
    expected = [
        {
            "To": [phones[n.contact_id]],
            "From": [FROM_NUMBER],
            "Body": [n.body],
            "StatusCallback": [f"{PUBLIC_URL}/sms/status?notice={n.id}"],
        }
        for n in notices(demo, number)
    ]
    assert [r.form for r in fake.creates()] == expected and len(expected) == len(primary_contacts(demo))
    assert all(r.status == 201 for r in fake.requests)
    assert dispatch_notices(demo, settings, number, provider=quick_provider(settings)) == []
    assert len(fake.requests) == len(expected)


def test_no_acknowledgement_in_time_sends_a_reminder_through_the_provider(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    dispatch_notices(demo, settings, provider=quick_provider(settings))
    with demo.read() as s:
        ack_due = get_case(s, number).ack_due
    assert ack_due is not None
    late = ack_due + timedelta(minutes=1)
    assert number in run_sweep(demo, late).flagged_ack
    assert relay_once(demo, settings, emit=None, now=late).notices
    dispatch_notices(demo, settings, provider=quick_provider(settings))
    bodies = [r.field("Body") or "" for r in fake.creates()]
    assert len(bodies) == 2 and bodies[1].startswith("【雪亮】超期提醒 " + number)
    with demo.read() as s:
        kinds = s.execute(select(Notice.kind, Notice.status).order_by(Notice.id)).all()
    assert [tuple(k) for k in kinds] == [("dispatch", "queued"), ("reminder", "queued")]


@pytest.fixture
def client(demo: Database, fake: FakeTwilio, tmp_path: Path) -> Iterator[TestClient]:
    settings = twilio_settings(fake, media_dir=tmp_path / "media")
    app = create_app(settings, demo)
    if not any(getattr(route, "path", None) == "/sms/inbound" for route in app.routes):
        app.include_router(sms_router(demo, settings, VAULT))
    with TestClient(app) as test_client:
        yield test_client


def test_dispatch_then_signed_replies_close_the_units_part(
    demo: Database, fake: FakeTwilio, client: TestClient
) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    dispatch_notices(demo, settings, number, provider=quick_provider(settings))
    phone = fake.creates()[0].field("To")
    assert phone

    def reply(body: str, media: list[tuple[str, str]] | None = None) -> str:
        params = fake.inbound(phone, FROM_NUMBER, body, media=media or [])
        url = PUBLIC_URL + "/sms/inbound"
        answer = client.post(url, data=params, headers=fake.signed(url, params))
        assert answer.status_code == 200
        return answer.text

    assert "已签收" in reply(f"收到 {number}")
    photo = fake.add_media(b"\xff\xd8\xff\xe0 a tiny jpeg stand-in \xff\xd9", "image/jpeg")
    assert "整改反馈及照片 1 张" in reply(f"完成 {number}", [(photo, "image/jpeg")])
    with demo.read() as s:
        case = get_case(s, number)
        actions = [(e.action, e.actor) for e in case.events]
        assert case.state == "rectified" and [e.kind for e in case.evidence] == ["after_photo"]
    actor = f"sms:{contacts(demo)[0].name}"
    assert actions[-4:] == [
        ("dispatch", "reviewer_city"),
        ("acknowledge", actor),
        ("report_fixed", actor),
        ("evidence", actor),
    ]
