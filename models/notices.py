"""SMS notices to responsible units: who gets one, what it says, and the idempotency that prevents doubles.

A notice row is created (with its idempotency key) before any provider is called; the key is derived from the
outbox row that caused it and the contact, so handling the same domain event twice creates nothing new.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models.cases import Case, Notice
from models.db import utcnow
from models.org import UnitContact

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
TWO_UCS2_SEGMENTS = 134  # 2 x 67 characters: a concatenated UCS-2 SMS

KINDS = ("dispatch", "rework", "reminder")


def _when(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%m月%d日%H:%M") if value else "尽快"


def is_gsm7(text: str) -> bool:
    return all(ord(ch) < 128 for ch in text)


def segments(text: str) -> int:
    """SMS segments Twilio will bill: GSM-7 160/153, otherwise UCS-2 70/67 (characters outside the BMP count 2)."""
    if is_gsm7(text):
        return 1 if len(text) <= 160 else -(-len(text) // 153)
    units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return 1 if units <= 70 else -(-units // 67)


def render(case: Case, kind: str, link: str) -> str:
    """The notice text in Chinese; the description is shortened first so the whole stays within two segments."""
    head = {"dispatch": "派遣通知", "rework": "返工通知", "reminder": "超期提醒"}[kind]
    tail = f"限{_when(case.rectify_due)}前整改。回复“收到 {case.number}”签收，“完成 {case.number}”反馈。详情{link}"
    place = case.unit.name
    what = case.category.name
    description = case.description or ""
    for cut in (len(description), 20, 10, 0):
        note = f"：{description[:cut]}" if cut else ""
        text = f"【雪亮】{head} {case.number} {what}，{place}{note}。{tail}"
        if segments(text) <= 2:
            return text
    return text


def create_notices(
    session: Session, case: Case, kind: str, cause: str, link: str, provider: str, now: datetime | None = None
) -> list[int]:
    """One notice per active primary contact of the case's responsible unit; returns the ids of new rows only.

    `cause` identifies the domain event (e.g. "outbox:42"); together with the contact it is the idempotency key.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind}")
    if case.responsible_unit_id is None:
        return []
    now = now or utcnow()
    contacts = (
        session.execute(
            select(UnitContact)
            .where(UnitContact.unit_id == case.responsible_unit_id, UnitContact.active.is_(True))
            .order_by(UnitContact.priority, UnitContact.id)
        )
        .scalars()
        .all()
    )
    primary = [c for c in contacts if c.priority == min(c.priority for c in contacts)] if contacts else []
    body = render(case, kind, link)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created: list[int] = []
    for contact in primary:
        new_id = session.execute(
            insert(Notice)
            .values(
                idempotency_key=f"{cause}:contact:{contact.id}",
                case_id=case.id,
                unit_id=case.responsible_unit_id,
                contact_id=contact.id,
                kind=kind,
                body=body,
                provider=provider,
                status="pending",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(Notice.id)
        ).scalar_one_or_none()
        if new_id is not None:
            created.append(new_id)
    return created
