"""The outbox: domain events written with the change they announce, handed to handlers at least once.

A relay claims due rows (row locks with SKIP LOCKED on PostgreSQL; the write lock on SQLite), runs the
handlers inside the same transaction as marking the row done, and backs off on failure. Handlers must be
idempotent: a row whose transaction crashed after the handler ran is handled again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.cases import Outbox
from models.db import utcnow

Handler = Callable[[Session, Outbox], None]
MAX_BACKOFF = timedelta(minutes=30)


def claim(session: Session, limit: int = 200, now: datetime | None = None) -> list[Outbox]:
    now = now or utcnow()
    stmt = (
        select(Outbox).where(Outbox.processed_at.is_(None), Outbox.available_at <= now).order_by(Outbox.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.execute(stmt).scalars())


def complete(row: Outbox, now: datetime | None = None) -> None:
    row.processed_at = now or utcnow()
    row.attempts += 1
    row.last_error = None


def fail(row: Outbox, error: str, now: datetime | None = None) -> None:
    """Try again later, with exponential backoff capped at MAX_BACKOFF."""
    now = now or utcnow()
    row.attempts += 1
    row.last_error = error[:2000]
    row.available_at = now + min(timedelta(seconds=2**row.attempts), MAX_BACKOFF)


def pending_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Outbox).where(Outbox.processed_at.is_(None))) or 0)
