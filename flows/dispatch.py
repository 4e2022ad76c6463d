"""`dispatch`: hand pending notices to the SMS provider. Triggered by `xueliang.case.dispatch` events (and the
other notice-making events), and scheduled as a catch-up; either way it only sends what is still pending, and
reconciles notices a crashed run left `sending` (integrations/sms.py: looked up at the provider, not resent)."""

from __future__ import annotations

from datetime import timedelta

from prefect import flow, get_run_logger

from integrations.secrets import PhoneVault
from integrations.sms import SENDING_LEASE, SmsProvider, provider_for, send_pending
from models.db import Database, utcnow
from models.settings import Settings


def dispatch_notices(
    db: Database,
    settings: Settings,
    number: str | None = None,
    *,
    provider: SmsProvider | None = None,
    lease: timedelta = SENDING_LEASE,
    limit: int = 500,
) -> list[int]:
    """The flow's work, callable without Prefect (tests, the CLI): send what is pending, all of it or one case's."""
    sender = provider or provider_for(settings)
    vault = PhoneVault.from_settings(settings)
    handled: list[int] = []
    started = utcnow()
    while True:
        batch = send_pending(db, sender, vault, number, limit=limit, lease=lease, before=started)
        handled += batch
        if len(batch) < limit:
            return handled


@flow(name="dispatch")
def dispatch(number: str | None = None, database_url: str | None = None) -> list[int]:
    settings = Settings.load()
    number = (number or "").removeprefix("xueliang.case.") or None  # an event trigger passes the resource id
    db = Database(database_url or settings.database_url)
    try:
        sent = dispatch_notices(db, settings, number)
    finally:
        db.dispose()
    get_run_logger().info("dispatch %s: %d notices handed to %s", number or "*", len(sent), settings.sms_provider)
    return sent
