"""`dispatch`: hand pending notices to the SMS provider. Triggered by `xueliang.case.dispatch` events (and the
other notice-making events), and scheduled as a catch-up; either way it only sends what is still pending."""

from __future__ import annotations

from prefect import flow, get_run_logger

from integrations.secrets import PhoneVault
from integrations.sms import provider_for, send_pending
from models.db import Database
from models.settings import Settings


@flow(name="dispatch")
def dispatch(number: str | None = None, database_url: str | None = None) -> list[int]:
    settings = Settings.load()
    number = (number or "").removeprefix("xueliang.case.") or None  # an event trigger passes the resource id
    db = Database(database_url or settings.database_url)
    try:
        sent = send_pending(db, provider_for(settings), PhoneVault.from_settings(settings), number)
    finally:
        db.dispose()
    get_run_logger().info("dispatch %s: %d notices handed to %s", number or "*", len(sent), settings.sms_provider)
    return sent
