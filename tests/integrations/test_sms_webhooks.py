"""Twilio's webhooks on the gateway, signed as Twilio signs them (RequestValidator): delivery reports move notices
forward and hand failures to the backup contact; replies acknowledge and report fixed (with an MMS photo as
after-evidence); a wrong or missing signature changes and stores nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from flows.dispatch import dispatch_notices
from integrations.gateway import create_app
from integrations.sms import send_pending
from integrations.storage import Storage
from integrations.twilio_fake import FakeTwilio
from models.cases import Evidence, Notice, Outbox, Signal
from models.commands import get_case
from models.db import Database
from models.settings import Settings
from tests.conftest import needs_fixtures
from tests.sms_support import (
    FROM_NUMBER,
    PUBLIC_URL,
    VAULT,
    contacts,
    dispatched,
    fake,
    notices,
    quick_provider,
    twilio_settings,
)

__all__ = ["fake"]  # the fixture, imported for pytest


@dataclass
class Gateway:
    client: TestClient
    settings: Settings
    fake: FakeTwilio
    db: Database

    def post(self, path: str, params: dict[str, str], signature: str | None = None) -> Response:
        """POST a form as Twilio would: signed over XUELIANG_PUBLIC_URL + path (+ query)."""
        url = PUBLIC_URL + path
        headers = self.fake.signed(url, params)
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
            if not signature:
                del headers["X-Twilio-Signature"]
        return self.client.post(url, data=params, headers=headers)

    def reply(self, body: str, sender: str | None = None, **kw: Any) -> Response:
        phone = sender or contacts(self.db)[0].phone
        return self.post("/sms/inbound", self.fake.inbound(phone, FROM_NUMBER, body, **kw))

    def send(self, url: str, data: Any, headers: Any) -> int:
        return self.client.post(url, data=data, headers=headers).status_code


@pytest.fixture
def gateway(demo: Database, fake: FakeTwilio, tmp_path: Path) -> Iterator[Gateway]:
    settings = twilio_settings(fake, media_dir=tmp_path / "media")
    app = create_app(settings, demo)
    with TestClient(app) as client:
        yield Gateway(client, settings, fake, demo)


def sent_case(gw: Gateway) -> tuple[str, Notice]:
    number = dispatched(gw.db, settings=gw.settings)
    send_pending(gw.db, quick_provider(gw.settings), VAULT)
    [notice] = notices(gw.db, number)
    assert notice.provider_sid
    return number, notice


def history(db: Database, number: str) -> tuple[str, list[tuple[str, str, str | None]], list[Evidence]]:
    with db.read() as s:
        case = get_case(s, number)
        return case.state, [(e.action, e.actor, e.note) for e in case.events], list(case.evidence)


def signals(db: Database) -> list[Signal]:
    with db.read() as s:
        return list(s.execute(select(Signal).where(Signal.source == "sms").order_by(Signal.id)).scalars())


# ------------------------------------------------------------------------------------------ status reports


def test_delivered_updates_the_notice_and_never_goes_back(gateway: Gateway) -> None:
    number, notice = sent_case(gateway)
    assert gateway.fake.status_callback(notice.provider_sid, "sent", send=gateway.send) == 204
    assert notices(gateway.db, number)[0].status == "sent"
    assert gateway.fake.status_callback(notice.provider_sid, "delivered", send=gateway.send) == 204
    assert gateway.fake.status_callback(notice.provider_sid, "sent", send=gateway.send) == 204  # late, out of order
    assert gateway.fake.status_callback(notice.provider_sid, "failed", 30008, send=gateway.send) == 204
    [after] = notices(gateway.db, number)
    assert (after.status, after.error) == ("delivered", None)


def test_failed_flags_the_notice_and_the_backup_contact_is_sent_it(gateway: Gateway) -> None:
    number, notice = sent_case(gateway)
    _primary, backup = contacts(gateway.db)
    assert gateway.fake.status_callback(notice.provider_sid, "undelivered", 30003, send=gateway.send) == 204
    failed, standby = notices(gateway.db, number)
    assert failed.status == "undelivered" and failed.error == "Twilio 30003：对方手机无法接通（关机或不在服务区）"
    assert (standby.contact_id, standby.status, standby.body) == (backup.id, "pending", failed.body)
    assert standby.idempotency_key == f"notice:{failed.id}:backup:contact:{backup.id}"
    with gateway.db.read() as s:
        announced = s.execute(select(Outbox).where(Outbox.topic == "notice.backup")).scalar_one()
        assert announced.payload["action"] == "notice_backup" and announced.payload["number"] == number
    # a repeated report makes nothing new
    assert gateway.fake.status_callback(notice.provider_sid, "undelivered", 30003, send=gateway.send) == 204
    assert len(notices(gateway.db, number)) == 2
    dispatch_notices(gateway.db, gateway.settings, number, provider=quick_provider(gateway.settings))
    posts = gateway.fake.creates()
    assert [p.field("To") for p in posts] == [contacts(gateway.db)[0].phone, backup.phone]
    assert notices(gateway.db, number)[1].status == "queued"


@pytest.mark.parametrize("signature", ["", "bm90IHRoZSBzaWduYXR1cmU="], ids=["missing", "wrong"])
def test_a_status_report_without_the_right_signature_changes_nothing(gateway: Gateway, signature: str) -> None:
    number, notice = sent_case(gateway)
    params = {"MessageSid": notice.provider_sid, "MessageStatus": "failed", "ErrorCode": "30003"}
    answer = gateway.post("/sms/status", params, signature=signature)
    assert answer.status_code == 403
    assert [n.status for n in notices(gateway.db, number)] == ["queued"]
    # signed for another URL (a replay against a different path) is wrong too
    headers = gateway.fake.signed(PUBLIC_URL + "/sms/inbound", params)
    assert gateway.client.post(PUBLIC_URL + "/sms/status", data=params, headers=headers).status_code == 403


def test_a_report_reconciles_a_notice_whose_sender_died(gateway: Gateway) -> None:
    number = dispatched(gateway.db, settings=gateway.settings)
    [notice] = notices(gateway.db, number)
    with gateway.db.write() as s:
        s.get(Notice, notice.id).status = "sending"  # claimed; the sender died after Twilio took the message
    sid = quick_provider(gateway.settings).send(notice.id, contacts(gateway.db)[0].phone, notice.body, "k").sid
    assert gateway.fake.status_callback(sid, "delivered", send=gateway.send) == 204
    [after] = notices(gateway.db, number)
    assert (after.status, after.provider_sid) == ("delivered", sid)
    assert send_pending(gateway.db, quick_provider(gateway.settings), VAULT) == []  # nothing left to send


# ----------------------------------------------------------------------------------------------- replies


def test_shou_dao_acknowledges_and_twilios_retry_is_answered_the_same(gateway: Gateway) -> None:
    number, _notice = sent_case(gateway)
    params = gateway.fake.inbound(contacts(gateway.db)[0].phone, FROM_NUMBER, f"收到 {number}")
    answer = gateway.post("/sms/inbound", params)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    assert f"已签收案卷 {number}" in answer.text and answer.text.startswith("<?xml")
    assert "<Response><Message>" in answer.text
    again = gateway.post("/sms/inbound", params)
    assert again.text == answer.text
    state, events, _ = history(gateway.db, number)
    assert state == "acknowledged"
    assert [a for a, _, _ in events].count("acknowledge") == 1
    assert events[-1][:2] == ("acknowledge", f"sms:{contacts(gateway.db)[0].name}")
    [kept] = signals(gateway.db)
    assert (kept.status, kept.source, kept.idempotency_key) == ("cased", "sms", f"sms:{params['MessageSid']}")
    phone = contacts(gateway.db)[0].phone
    assert phone.encode() not in kept.raw and phone[3:].encode() not in kept.raw
    assert phone not in json.dumps(kept.fields, ensure_ascii=False)
    opened = VAULT.open_bytes(kept.raw).decode()
    assert "From=%2B86" in opened and "MessageSid=" + params["MessageSid"] in opened


def test_wan_cheng_with_a_photo_reports_fixed_with_after_evidence(gateway: Gateway, tmp_path: Path) -> None:
    number, _notice = sent_case(gateway)
    assert gateway.reply("1").status_code == 200  # the only open notice: the number may be left out
    photo = cv2.imencode(".jpg", np.full((32, 48, 3), 200, np.uint8))[1].tobytes()
    media_url = gateway.fake.add_media(photo, "image/jpeg")
    answer = gateway.reply(f"完成 {number} 垃圾已清运", media=[(media_url, "image/jpeg")])
    assert f"已收到案卷 {number} 的整改反馈及照片 1 张" in answer.text
    state, events, evidence = history(gateway.db, number)
    assert state == "rectified"
    assert [a for a, _, _ in events][-3:] == ["acknowledge", "report_fixed", "evidence"]
    assert events[-2][2] == "垃圾已清运（附照片 1 张）"
    assert events[-1][1] == f"sms:{contacts(gateway.db)[0].name}"
    [after] = evidence
    assert (after.kind, after.sha256, after.size, after.status) == (
        "after_photo",
        hashlib.sha256(photo).hexdigest(),
        len(photo),
        "ready",
    )
    assert after.uri.startswith(f"file://{tmp_path / 'media'}/")
    assert Storage.from_settings(gateway.settings).read(after.uri) == photo
    [download] = [r for r in gateway.fake.requests if "/Media/" in r.path]
    assert download.authorized and download.status == 200


def test_a_photo_that_cannot_be_fetched_is_recorded_as_failed_evidence(gateway: Gateway) -> None:
    number, _notice = sent_case(gateway)
    missing = gateway.fake.add_media(b"x", "image/png").rsplit("/", 1)[0] + "/ME" + "0" * 32
    answer = gateway.reply(f"完成 {number}", media=[(missing, "image/png")])
    assert "已收到案卷" in answer.text
    state, events, [evidence] = history(gateway.db, number)
    assert state == "rectified" and [a for a, _, _ in events][-2:] == ["report_fixed", "evidence_failed"]
    assert "照片未能保存" in (events[-2][2] or "")
    assert evidence.status == "failed" and "HTTP 404" in (evidence.error or "") and evidence.uri is None


def test_without_a_number_and_several_open_cases_the_sender_is_asked_which(gateway: Gateway) -> None:
    first, _ = sent_case(gateway)
    second = dispatched(gateway.db, description="井盖缺失", settings=gateway.settings)
    answer = gateway.reply("2")
    assert "2 件待办案卷" in answer.text and first in answer.text and second in answer.text
    assert history(gateway.db, first)[0] == history(gateway.db, second)[0] == "dispatched"
    assert signals(gateway.db)[0].suppressed_by == "sms:ambiguous"


def test_anything_else_gets_the_help_text(gateway: Gateway) -> None:
    number, _ = sent_case(gateway)
    answer = gateway.reply("好的，马上去")
    assert "回复“收到 案卷编号”" in answer.text and history(gateway.db, number)[0] == "dispatched"


def test_an_unknown_sender_is_refused_politely_and_nothing_changes(gateway: Gateway) -> None:
    number, _ = sent_case(gateway)
    answer = gateway.reply(f"收到 {number}", sender="+8613800138000")
    assert answer.status_code == 200 and "未登记为责任单位联系人" in answer.text
    assert history(gateway.db, number)[0] == "dispatched"
    assert signals(gateway.db)[0].suppressed_by == "sms:unknown_sender"


def test_a_contact_of_another_unit_cannot_move_the_case(gateway: Gateway) -> None:
    number, _ = sent_case(gateway)
    other = contacts(gateway.db, "VC-371302001001")[0]  # 兰山第一社区居民委员会
    answer = gateway.reply(f"收到 {number}", sender=other.phone)
    assert "未能办理" in answer.text and "不是案卷" in answer.text
    assert other.phone not in answer.text
    assert history(gateway.db, number)[0] == "dispatched"


@pytest.mark.parametrize("signature", ["", "AAAA"], ids=["missing", "wrong"])
def test_a_reply_without_the_right_signature_stores_and_changes_nothing(gateway: Gateway, signature: str) -> None:
    number, _ = sent_case(gateway)
    params = gateway.fake.inbound(contacts(gateway.db)[0].phone, FROM_NUMBER, f"收到 {number}")
    assert gateway.post("/sms/inbound", params, signature=signature).status_code == 403
    assert history(gateway.db, number)[0] == "dispatched" and signals(gateway.db) == []


def test_without_an_auth_token_no_webhook_is_trusted(demo: Database, fake: FakeTwilio) -> None:
    settings = Settings.load(environ={"XUELIANG_PUBLIC_URL": PUBLIC_URL})
    app = create_app(settings, demo)
    params = fake.inbound("+8613900000013", FROM_NUMBER, "1")
    with TestClient(app) as client:
        url = PUBLIC_URL + "/sms/inbound"
        assert client.post(url, data=params, headers=fake.signed(url, params)).status_code == 403
    with demo.read() as s:
        assert s.scalar(select(func.count()).select_from(Signal)) == 0


def test_a_captured_twilio_inbound_form_is_understood(gateway: Gateway) -> None:
    params = json.loads(needs_fixtures("twilio", "inbound_sms_params_nuntius_rubydoc.json").read_text())
    answer = gateway.post("/sms/inbound", params)
    assert answer.status_code == 200 and "未登记" in answer.text  # a Dutch number is no contact of ours
    [kept] = signals(gateway.db)
    assert kept.idempotency_key == "sms:" + params["MessageSid"] and kept.fields["body"] == "St"
