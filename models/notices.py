"""SMS notices to responsible units: who gets one, what it says, and the idempotency that prevents doubles.

A notice row is created (with its idempotency key) before any provider is called; the key is derived from the
outbox row that caused it and the contact, so handling the same domain event twice creates nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cases import Case, Notice
from models.db import insert_ignoring_duplicates, utcnow
from models.org import ResponsibleUnit, UnitContact

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
    # The reply words without the number: with one waiting case that is enough, with several the reply handler
    # answers with the list and asks for the number. Repeating the number here would cost a third segment.
    tail = f"限{_when(case.rectify_due)}前整改。回复“收到”签收，“完成”反馈。详情{link}"
    place = case.unit.name
    what = case.category.name
    description = case.description or ""
    for cut in (len(description), 20, 10, 0):
        note = f"：{description[:cut]}" if cut else ""
        text = f"【雪亮】{head} {case.number} {what}，{place}{note}。{tail}"
        if segments(text) <= 2:
            return text
    return text


def _add_notice(
    session: Session,
    key: str,
    case_id: int,
    unit_id: int,
    contact_id: int,
    kind: str,
    body: str,
    provider: str,
    now: datetime,
) -> int | None:
    """Insert a pending notice unless its idempotency key exists; the new id, or None."""
    values = {
        "idempotency_key": key,
        "case_id": case_id,
        "unit_id": unit_id,
        "contact_id": contact_id,
        "kind": kind,
        "body": body,
        "provider": provider,
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    statement = insert_ignoring_duplicates(session, Notice).values(**values).returning(Notice.id)
    return session.execute(statement).scalar_one_or_none()


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
    created: list[int] = []
    for contact in primary:
        new_id = _add_notice(
            session,
            f"{cause}:contact:{contact.id}",
            case.id,
            case.responsible_unit_id,
            contact.id,
            kind,
            body,
            provider,
            now,
        )
        if new_id is not None:
            created.append(new_id)
    return created


# ------------------------------------------------------------------------------------------- delivery status

# Notice statuses. `pending` waits for a sender; `sending` is claimed by one (the provider may or may not have the
# message: a notice left `sending` past its lease is reconciled, not resent blindly); `stored` is the outbox
# provider's end; `queued`/`sent`/`delivered`/`undelivered`/`failed` follow the provider's delivery reports;
# `invalid_number` is refused before any provider call.
STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "sending": 1,
    "stored": 2,
    "queued": 2,
    "sent": 3,
    "undelivered": 4,
    "failed": 4,
    "invalid_number": 4,
    "canceled": 4,
    "delivered": 5,
}
FAILED = frozenset({"undelivered", "failed", "invalid_number", "canceled"})
STATUS_NAMES: dict[str, str] = {
    "pending": "待发送",
    "sending": "发送中",
    "stored": "已存入发件箱",
    "queued": "已提交",
    "sent": "已发出",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "发送失败",
    "invalid_number": "号码无效",
    "canceled": "已取消",
}


def advance_status(notice: Notice, status: str, error: str | None = None, now: datetime | None = None) -> bool:
    """Apply a delivery report: only forward (reports arrive out of order, and `delivered` is never undone).
    Returns whether the notice changed."""
    if status not in STATUS_RANK:
        raise ValueError(f"unknown notice status {status}")
    if STATUS_RANK[status] <= STATUS_RANK.get(notice.status, 0) and status != notice.status:
        return False
    if status == notice.status and (error is None or error == notice.error):
        return False
    notice.status = status
    if error is not None:
        notice.error = error[:2000]
    notice.updated_at = now or utcnow()
    return True


def create_backup_notices(session: Session, failed: Notice, now: datetime | None = None) -> list[int]:
    """The same notice to the unit's contacts of the next priority (1 primary -> 2 backup -> ...), once.

    Nothing is made when the case has left the unit meanwhile (returned, closed) or when there is no further
    contact; the failed notice stays flagged on the dispatch board either way."""
    now = now or utcnow()
    case = session.get(Case, failed.case_id)
    if case is None or case.responsible_unit_id != failed.unit_id or case.state not in ("dispatched", "acknowledged"):
        return []
    current = session.get(UnitContact, failed.contact_id) if failed.contact_id is not None else None
    floor = current.priority if current is not None else 0
    later = (
        session.execute(
            select(UnitContact)
            .where(
                UnitContact.unit_id == failed.unit_id,
                UnitContact.active.is_(True),
                UnitContact.priority > floor,
            )
            .order_by(UnitContact.priority, UnitContact.id)
        )
        .scalars()
        .all()
    )
    if not later:
        return []
    nearest = [c for c in later if c.priority == later[0].priority]
    created: list[int] = []
    for contact in nearest:
        new_id = _add_notice(
            session,
            f"notice:{failed.id}:backup:contact:{contact.id}",
            failed.case_id,
            failed.unit_id,
            contact.id,
            failed.kind,
            failed.body,
            failed.provider,
            now,
        )
        if new_id is not None:
            created.append(new_id)
    return created


@dataclass(frozen=True)
class BoardRow:
    """One line of the dispatch board's SMS panel (phones only masked)."""

    notice_id: int
    case_number: str
    case_state: str
    unit: str
    contact: str | None
    phone_masked: str | None
    kind: str
    status: str
    status_zh: str
    error: str | None
    flagged: bool
    backup_of: int | None
    attempts: int
    provider: str
    provider_sid: str | None
    created_at: datetime
    updated_at: datetime | None
    body: str = ""
    sent_at: datetime | None = None


def backup_of(notice: Notice) -> int | None:
    """The id of the failed notice a backup notice stands in for (from its idempotency key)."""
    key = notice.idempotency_key
    if key.startswith("notice:") and ":backup:" in key:
        head = key.split(":")[1]
        return int(head) if head.isdigit() else None
    return None


def dispatch_board(
    session: Session,
    *,
    flagged_only: bool = False,
    case_number: str | None = None,
    unit_id: int | None = None,
    limit: int = 200,
) -> list[BoardRow]:
    """Notices newest first (only those sent to responsible unit `unit_id`, when given); `flagged` marks what
    needs a person: an invalid number, a failed or undelivered message (its error says why; a backup notice to
    the next contact is made automatically when there is one)."""
    stmt = (
        select(Notice, Case, ResponsibleUnit, UnitContact)
        .join(Case, Case.id == Notice.case_id)
        .join(ResponsibleUnit, ResponsibleUnit.id == Notice.unit_id)
        .outerjoin(UnitContact, UnitContact.id == Notice.contact_id)
        .order_by(Notice.id.desc())
        .limit(limit)
    )
    if flagged_only:
        stmt = stmt.where(Notice.status.in_(sorted(FAILED)))
    if case_number:
        stmt = stmt.where(Case.number == case_number)
    if unit_id is not None:
        stmt = stmt.where(Notice.unit_id == unit_id)
    rows = []
    for notice, case, unit, contact in session.execute(stmt).all():
        rows.append(
            BoardRow(
                notice_id=notice.id,
                case_number=case.number,
                case_state=case.state,
                unit=unit.name,
                contact=contact.name if contact else None,
                phone_masked=contact.phone_masked if contact else None,
                kind=notice.kind,
                status=notice.status,
                status_zh=STATUS_NAMES.get(notice.status, notice.status),
                error=notice.error,
                flagged=notice.status in FAILED,
                backup_of=backup_of(notice),
                attempts=notice.attempts,
                provider=notice.provider,
                provider_sid=notice.provider_sid,
                created_at=notice.created_at,
                updated_at=notice.updated_at,
                body=notice.body,
                sent_at=notice.sent_at,
            )
        )
    return rows
