"""The Twilio provider with the real twilio client against the fake Twilio server: the exact form fields Twilio
receives, retries, reconciliation after unclear answers and after a killed sender, pacing, invalid numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.secrets import PhoneVault
from integrations.sms import (
    OutboxProvider,
    ProviderUnavailable,
    TokenBucket,
    provider_for,
    rebase_url,
    scrub,
    send_pending,
    shared_bucket,
)
from integrations.twilio_fake import FakeTwilio
from models.cases import Notice
from models.db import Database
from models.notices import dispatch_board
from models.org import UnitContact
from models.settings import Settings
from tests.conftest import ROOT, TEST_SECRET, needs_fixtures
from tests.sms_support import (
    FROM_NUMBER,
    PUBLIC_URL,
    SERVICE_SID,
    VAULT,
    contacts,
    dispatched,
    fake,
    notices,
    quick_provider,
    twilio_settings,
)

__all__ = ["fake"]  # the fixture, imported for pytest

NOW = timedelta(0)  # a lease of zero: every notice left `sending` counts as abandoned


def send(db: Database, provider: object, **kw: object) -> list[int]:
    return send_pending(db, provider, VAULT, **kw)  # type: ignore[arg-type]


def test_rebase_url_moves_every_twilio_host_and_nothing_else() -> None:
    base = "http://127.0.0.1:9999/twilio"
    assert rebase_url("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=x", base) == (
        "http://127.0.0.1:9999/twilio/2010-04-01/Accounts/AC1/Messages.json?To=x"
    )
    assert rebase_url("https://api.dublin.ie1.twilio.com/2010-04-01/x", base).startswith("http://127.0.0.1:9999/")
    assert rebase_url("https://example.com/2010-04-01/x", base) == "https://example.com/2010-04-01/x"
    assert rebase_url("https://api.twilio.com/x", None) == "https://api.twilio.com/x"


def test_provider_for_names_what_is_missing() -> None:
    assert isinstance(provider_for(Settings.load(environ={})), OutboxProvider)
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"):
        provider_for(Settings.load(environ={"XUELIANG_SMS_PROVIDER": "twilio"}))
    with pytest.raises(ValueError, match=r"E\.164"):
        provider_for(
            Settings.load(
                environ={
                    "XUELIANG_SMS_PROVIDER": "twilio",
                    "TWILIO_ACCOUNT_SID": "AC1",
                    "TWILIO_AUTH_TOKEN": "t",
                    "TWILIO_FROM_NUMBER": "12",
                }
            )
        )
    with pytest.raises(ValueError, match="not available"):
        provider_for(Settings.load(environ={"XUELIANG_SMS_PROVIDER": "pigeon"}))


@pytest.mark.parametrize("service", [False, True], ids=["from-number", "messaging-service"])
def test_twilio_receives_exactly_these_form_fields(demo: Database, fake: FakeTwilio, service: bool) -> None:
    settings = twilio_settings(fake, service=service)
    number = dispatched(demo, settings=settings)
    [notice] = notices(demo, number)
    primary = contacts(demo)[0]
    assert send(demo, quick_provider(settings)) == [notice.id]
    [post] = fake.creates()
    sender = {"MessagingServiceSid": [SERVICE_SID]} if service else {"From": [FROM_NUMBER]}
    assert post.form == {
        "To": [primary.phone],
        **sender,
        "Body": [notice.body],
        "StatusCallback": [f"{PUBLIC_URL}/sms/status?notice={notice.id}"],
    }
    assert primary.phone.startswith("+86") and post.authorized
    assert post.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    [message] = fake.messages
    [after] = notices(demo, number)
    assert (after.status, after.provider_sid, after.attempts) == ("queued", message.sid, 1)
    assert after.sent_at is not None and after.error is None


def test_the_fake_answers_in_twilios_shape(fake: FakeTwilio) -> None:
    sample = json.loads(needs_fixtures("twilio", "message_create_response_twilio_python.json").read_text())
    provider = quick_provider(twilio_settings(fake))
    provider.send(1, "+8613900000001", "形状", "k")
    created = fake.messages[0].resource(fake.account_sid)
    assert set(created) == set(sample)
    assert created["sid"].startswith("SM") and len(created["sid"]) == len(sample["sid"])


def test_429_then_success_sends_exactly_one(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    fake.fail_next("429", times=2)
    send(demo, quick_provider(settings))
    assert [r.status for r in fake.creates()] == [429, 429, 201]
    assert len(fake.messages) == 1
    assert notices(demo, number)[0].provider_sid == fake.messages[0].sid


def test_500_is_retried_after_looking_first(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    fake.fail_next("500")
    send(demo, quick_provider(settings))
    assert (fake.requests[0].method, fake.requests[0].status) == ("POST", 500)
    assert [r.status for r in fake.creates()] == [500, 201]
    assert len(fake.messages) == 1 and notices(demo, number)[0].status == "queued"


@pytest.mark.parametrize("fault", ["timeout", "drop"])
def test_an_unclear_answer_is_reconciled_not_resent(demo: Database, fake: FakeTwilio, fault: str) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    fake.fail_next(fault)
    send(demo, quick_provider(settings))
    assert len(fake.creates()) == 1 and len(fake.messages) == 1
    lookups = [r for r in fake.requests if r.method == "GET"]
    assert lookups and lookups[0].query["To"] == [contacts(demo)[0].phone]
    [notice] = notices(demo, number)
    assert (notice.status, notice.provider_sid) == ("queued", fake.messages[0].sid)


def test_retries_run_out_then_the_next_run_looks_before_sending(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    fake.fail_next("500", times=3)
    assert send(demo, quick_provider(settings, max_attempts=3))
    [notice] = notices(demo, number)
    assert notice.status == "pending" and "3 次尝试" in (notice.error or "") and notice.attempts == 1
    assert fake.messages == []
    before = len(fake.requests)
    send(demo, quick_provider(settings))
    [notice] = notices(demo, number)
    assert notice.status == "queued" and notice.attempts == 2 and len(fake.messages) == 1
    # the second run looked first (the first run might have reached Twilio), then sent once
    second_run = fake.requests[before:]
    assert [r.method for r in second_run][:1] == ["GET"] and sum(r.creates_message for r in second_run) == 1


def test_identical_notices_are_matched_to_messages_one_to_one(demo: Database, fake: FakeTwilio) -> None:
    """Two notices with the same text to the same number, both abandoned mid-send, one message at Twilio: one
    notice takes it, the other is sent."""
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    [first] = notices(demo, number)
    with demo.write() as s:
        twin = Notice(
            idempotency_key="test:twin",
            case_id=first.case_id,
            unit_id=first.unit_id,
            contact_id=first.contact_id,
            kind=first.kind,
            body=first.body,
            provider="twilio",
            status="sending",
            attempts=1,
            created_at=first.created_at,
            updated_at=first.created_at,
        )
        s.add(twin)
        s.get(Notice, first.id).status = "sending"
        s.get(Notice, first.id).attempts = 1
    provider = quick_provider(settings)
    provider.send(first.id, contacts(demo)[0].phone, first.body, first.idempotency_key)  # Twilio has it
    send(demo, provider, lease=NOW)
    rows = notices(demo, number)
    assert len(fake.messages) == 2 and len(fake.creates()) == 2
    assert {n.provider_sid for n in rows} == {m.sid for m in fake.messages}


def test_a_message_already_sent_long_ago_is_found_by_its_date(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    [notice] = notices(demo, number)
    phone = contacts(demo)[0].phone
    provider = quick_provider(settings, scan=1)
    kept = provider.send(notice.id, phone, notice.body, notice.idempotency_key)
    fake.set_status(kept.sid, "delivered")
    provider.send(999, phone, "后来的另一条短信", "other")  # newer: the "recent" read sees only this one
    with demo.write() as s:
        s.get(Notice, notice.id).status = "sending"
    send(demo, provider, lease=NOW)
    [notice] = notices(demo, number)
    assert (notice.provider_sid, notice.status) == (kept.sid, "delivered")
    assert len(fake.messages) == 2
    assert any("DateSent>" in r.query for r in fake.requests if r.method == "GET")


def test_an_invalid_number_is_flagged_and_the_backup_contact_gets_it(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    primary, backup = contacts(demo)
    with demo.write() as s:
        s.get(UnitContact, primary.id).phone_sealed = VAULT.seal_bytes(b"0531-12").decode()
    send(demo, quick_provider(settings))
    first, second = notices(demo, number)
    assert first.status == "invalid_number" and "E.164" in (first.error or "")
    assert "0531" not in (first.error or "")
    assert (second.contact_id, second.status) == (backup.id, "queued")
    [post] = fake.creates()  # Twilio never saw the bad number
    assert post.field("To") == backup.phone
    with demo.read() as s:
        board = {row.notice_id: row for row in dispatch_board(s, case_number=number)}
    assert board[first.id].flagged and board[first.id].status_zh == "号码无效"
    assert board[second.id].backup_of == first.id and not board[second.id].flagged


def test_token_bucket_paces_and_is_shared() -> None:
    clock = [0.0]
    waits: list[float] = []
    bucket = TokenBucket(10, clock=lambda: clock[0], sleep=waits.append)
    for _ in range(4):
        bucket.acquire()
    assert [round(w, 3) for w in waits] == [0.1, 0.2, 0.3]
    clock[0] = 10.0  # idle: at most one token (burst 1) has built up
    waits.clear()
    bucket.acquire()
    bucket.acquire()
    assert [round(w, 3) for w in waits] == [0.1]
    assert shared_bucket("AC-x", 5.0) is shared_bucket("AC-x", 5.0)


def test_the_rate_limit_holds_across_threads(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    provider = quick_provider(settings, rate=20.0)
    for i in range(12):
        dispatched(demo, description=f"第{i}处", settings=settings)
    started = time.monotonic()
    assert len(send(demo, provider, concurrency=6)) == 12
    assert time.monotonic() - started >= 11 / 20 * 0.9
    stamps = sorted(r.at for r in fake.creates())
    # arrivals jitter a little, but no quarter of a second holds more than its share (5) and a straggler
    assert max(sum(1 for t in stamps if s <= t < s + 0.25) for s in stamps) <= 20 * 0.25 + 2


def test_phone_numbers_are_scrubbed_from_error_texts() -> None:
    text = scrub("The 'To' number +8613900000001 is not a valid phone number. (13900000002)")
    assert "13900000001" not in text and "13900000002" not in text and "****" in text


# ------------------------------------------------------------------------------ a sender killed mid-send

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from integrations.secrets import PhoneVault
    from integrations.sms import TwilioProvider, provider_for, send_pending
    from models.db import Database
    from models.settings import Settings

    settings = Settings.load()
    provider = provider_for(settings, timeout=30.0)
    if sys.argv[1] == "after_answer":
        real = TwilioProvider.send

        def send_then_die(self, *args, **kwargs):
            real(self, *args, **kwargs)  # Twilio answered; the process dies before recording it
            os.kill(os.getpid(), signal.SIGKILL)

        TwilioProvider.send = send_then_die
    send_pending(Database(settings.database_url), provider, PhoneVault.from_settings(settings))
    print("finished", flush=True)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["after_answer", "waiting_for_answer"])
def test_a_killed_sender_then_a_restart_sends_nothing_twice(
    demo: Database, demo_url: str, fake: FakeTwilio, moment: str, tmp_path: Path
) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XUELIANG_DATABASE_URL": demo_url,
        "XUELIANG_SECRET_KEY": TEST_SECRET,
        "XUELIANG_SMS_PROVIDER": "twilio",
        "XUELIANG_PUBLIC_URL": PUBLIC_URL,
        "XUELIANG_TWILIO_BASE_URL": fake.url,
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
    }
    if moment == "waiting_for_answer":
        fake.fail_next("hold")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, moment], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        if moment == "waiting_for_answer":
            assert fake.held.wait(30), child.stderr.read().decode() if child.poll() is not None else "no POST came"
            child.send_signal(signal.SIGKILL)  # Twilio has the message; the sender never learns it
        child.wait(30)
    finally:
        fake.release()
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, child.stderr.read().decode()[-2000:] if child.stderr else ""
    [notice] = notices(demo, number)
    assert notice.status == "sending" and notice.provider_sid is None and len(fake.messages) == 1
    # a restart within the lease leaves the claimed notice alone …
    assert send(demo, quick_provider(settings)) == []
    # … and once the lease has run out, reconciles it with Twilio instead of sending again
    assert send(demo, quick_provider(settings), lease=NOW) == [notice.id]
    [notice] = notices(demo, number)
    assert (notice.status, notice.provider_sid) == ("queued", fake.messages[0].sid)
    assert len(fake.creates()) == 1 and len(fake.messages) == 1
    with demo.read() as s:
        assert s.execute(select(Notice.status)).scalars().all() == ["queued"]


def test_wrong_credentials_stop_the_run_and_keep_the_notices(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake, TWILIO_AUTH_TOKEN="not-the-token")
    number = dispatched(demo, settings=settings)
    with pytest.raises(ProviderUnavailable, match="TWILIO_AUTH_TOKEN"):
        send(demo, quick_provider(settings))
    [notice] = notices(demo, number)
    assert notice.status == "pending" and fake.messages == []


def test_a_changed_secret_key_stops_the_run_instead_of_failing_every_notice(demo: Database, fake: FakeTwilio) -> None:
    settings = twilio_settings(fake)
    number = dispatched(demo, settings=settings)
    with pytest.raises(ProviderUnavailable, match="XUELIANG_SECRET_KEY"):
        send_pending(demo, quick_provider(settings), PhoneVault("another-key"))
    assert [n.status for n in notices(demo, number)] == ["pending"] and fake.creates() == []


def test_bench_sms_sends_each_notice_once_within_the_rate() -> None:
    from xueliang.bench_sms import run

    report = run(Settings.load(environ={}), notices=60, cases=6, rate=200.0)
    results = report["results"]
    assert results["notices"] == 60 and results["duplicates"] == 0 and results["sids_shared"] == 0
    assert results["busiest_second"] <= 200 and set(report) == {"machine", "inputs", "results"}
