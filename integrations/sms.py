"""Sending SMS notices. Providers: `outbox` (the embedded default: the message stays in the database, for the
console's SMS page and the log; nothing leaves the machine) and, with the SMS issue, `twilio`.

A notice is claimed (status pending -> sending, committed) before the provider is called, so two senders
never send the same notice; what happens after the provider answered is recorded in a second transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select

from integrations.secrets import PhoneVault
from models.cases import Case, Notice
from models.db import Database, utcnow
from models.org import UnitContact
from models.settings import Settings


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class SmsProvider(Protocol):
    name: str

    def send(self, notice_id: int, to: str, body: str, idempotency_key: str) -> SendResult: ...


class OutboxProvider:
    """Keeps the message: its status becomes `stored`; the console and `xueliang` list it."""

    name = "outbox"

    def send(self, notice_id: int, to: str, body: str, idempotency_key: str) -> SendResult:
        return SendResult(sid=f"OUTBOX{notice_id:010d}", status="stored")


def provider_for(settings: Settings) -> SmsProvider:
    if settings.sms_provider == "outbox":
        return OutboxProvider()
    raise ValueError(f"XUELIANG_SMS_PROVIDER={settings.sms_provider!r} is not available; use outbox")


def send_pending(
    db: Database, provider: SmsProvider, vault: PhoneVault, case_number: str | None = None, limit: int = 100
) -> list[int]:
    """Send pending notices (of one case, or all); returns the ids handed to the provider."""
    with db.write() as session:
        stmt = select(Notice).where(Notice.status == "pending").order_by(Notice.id).limit(limit)
        if case_number:
            stmt = stmt.join(Case, Case.id == Notice.case_id).where(Case.number == case_number)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        claimed = []
        for notice in session.execute(stmt).scalars():
            notice.status = "sending"
            notice.attempts += 1
            notice.updated_at = utcnow()
            contact = session.get(UnitContact, notice.contact_id) if notice.contact_id else None
            claimed.append((notice.id, notice.body, notice.idempotency_key, contact.phone_sealed if contact else None))
    sent = []
    for notice_id, body, key, sealed in claimed:
        status, sid, error = "failed", None, None
        if sealed is None:
            error = "the contact has no phone number"
        else:
            result = provider.send(notice_id, vault.open(sealed), body, key)
            status, sid = result.status, result.sid
        with db.write() as session:
            notice = session.get(Notice, notice_id)
            assert notice is not None
            notice.status, notice.provider_sid, notice.error = status, sid, error
            notice.sent_at = notice.updated_at = utcnow()
        sent.append(notice_id)
    return sent
