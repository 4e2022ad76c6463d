"""SMS replies from responsible units' contacts: what a reply asks for, which case it is about, and the command it
becomes. The transport (signature check, the raw form kept sealed, photo download) is integrations/sms_webhooks.py.

Grammar, after NFKC folding (full-width digits and letters count as their ASCII forms):
- "收到 <case number>", "签收 <number>" or "1" (optionally followed by the number) acknowledges;
- "完成 <case number>" or "2" reports the case fixed; text after it becomes the note, an MMS photo after-evidence;
- anything else gets the help text.
The number may be left out when the sender's contacts have exactly one case waiting for their unit (a notice was
sent to one of them and the case is dispatched or acknowledged, still with their unit). Only a registered contact
of the case's responsible unit moves it: models.commands.act_as_contact decides, as for every other actor.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cases import Case, Evidence, Notice, State
from models.commands import ActParams, act_as_contact
from models.db import utcnow
from models.errors import DomainError
from models.evidence import add_evidence, fail_evidence
from models.notices import LOCAL_TZ
from models.org import UnitContact

ACK_WORDS = ("收到", "签收")
FIXED_WORDS = ("已完成", "完成")
WAITING_STATES = (State.DISPATCHED.value, State.ACKNOWLEDGED.value)
_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,8})\s*-?\s*(\d{8})\s*-?\s*(\d{4,6})(?!\d)")
_EDGE = " \t\r\n,.;:!?，。；：！？、-—~～\"'“”‘’()（）[]【】"

HELP = "【雪亮】回复“收到 案卷编号”（或 1）签收；回复“完成 案卷编号”（或 2）反馈整改完成，可附现场照片。"
UNKNOWN_SENDER = "【雪亮】抱歉，本号码未登记为责任单位联系人，无法办理案卷。如有疑问请联系所属综治中心。"


@dataclass(frozen=True)
class Reply:
    action: str | None  # "acknowledge", "report_fixed", or None (not understood)
    number: str | None
    note: str | None


def parse_reply(text: str) -> Reply:
    folded = unicodedata.normalize("NFKC", text or "").strip()
    number = None
    match = _NUMBER.search(folded)
    if match:
        number = f"{match.group(1).upper()}-{match.group(2)}-{match.group(3)}"
        folded = folded[: match.start()] + " " + folded[match.end() :]
    rest = folded.strip(_EDGE)
    for words, action in ((ACK_WORDS, "acknowledge"), (FIXED_WORDS, "report_fixed")):
        for word in words:
            if rest.startswith(word):
                return Reply(action, number, rest[len(word) :].strip(_EDGE) or None)
    digit = re.match(r"^([12])(?!\d)", rest)
    if digit:
        action = "acknowledge" if digit.group(1) == "1" else "report_fixed"
        return Reply(action, number, rest[1:].strip(_EDGE) or None)
    return Reply(None, number, None)


def sender_contacts(session: Session, digest: str) -> list[UnitContact]:
    """The active contacts registered under this number (one person may serve several units)."""
    return list(
        session.execute(
            select(UnitContact)
            .where(UnitContact.phone_digest == digest, UnitContact.active.is_(True))
            .order_by(UnitContact.priority, UnitContact.id)
        ).scalars()
    )


def waiting_cases(session: Session, contacts: list[UnitContact]) -> list[Case]:
    """Cases these contacts were notified of that still wait for their unit (dispatched or acknowledged)."""
    if not contacts:
        return []
    stmt = (
        select(Case)
        .join(Notice, Notice.case_id == Case.id)
        .where(
            Notice.contact_id.in_([c.id for c in contacts]),
            Notice.unit_id == Case.responsible_unit_id,
            Case.state.in_(WAITING_STATES),
        )
        .distinct()
        .order_by(Case.id)
    )
    return list(session.execute(stmt).scalars())


@dataclass(frozen=True)
class AfterPhoto:
    """A photo sent with a "完成" reply: stored (uri, sha256, size) or, when it could not be fetched, an error."""

    source: str
    content_type: str | None = None
    uri: str | None = None
    sha256: str | None = None
    size: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    reply: str
    status: str  # the signal's status: "cased" (the case moved) or "suppressed" (nothing changed)
    reason: str | None = None  # why nothing changed (Signal.suppressed_by)
    action: str | None = None
    case_number: str | None = None
    case_id: int | None = None


def add_after_photo(session: Session, number: str, photo: AfterPhoto, actor: str, now: datetime) -> Evidence:
    """An after-evidence item (kind after_photo) with its custody entry, or the failure to fetch it. Faces are not
    yet counted or blurred: redacted_uri stays empty until the evidence flow has done so."""
    if photo.error or photo.uri is None:
        return fail_evidence(
            session,
            number,
            kind="after_photo",
            source=photo.source,
            error=photo.error or "未取得",
            actor=actor,
            now=now,
        )
    return add_evidence(
        session,
        number,
        kind="after_photo",
        uri=photo.uri,
        redacted_uri=None,
        sha256=photo.sha256,
        size=photo.size,
        source=photo.source,
        captured_at=now,
        face_count=None,
        actor=actor,
        now=now,
    )


def _when(value: datetime | None) -> str:
    return value.astimezone(LOCAL_TZ).strftime("%m月%d日%H:%M") if value else "期限内"


def handle_reply(
    session: Session,
    contacts: list[UnitContact],
    reply: Reply,
    photos: list[AfterPhoto] | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Decide and, when allowed, act, inside the caller's transaction. A refused action writes nothing (it runs
    in a savepoint); the reply tells the sender why, in Chinese."""
    now = now or utcnow()
    photos = photos or []
    if not contacts:
        return Outcome(UNKNOWN_SENDER, "suppressed", "sms:unknown_sender")
    if reply.action is None:
        return Outcome(HELP, "suppressed", "sms:help")
    number = reply.number
    if number is None:
        waiting = waiting_cases(session, contacts)
        if not waiting:
            return Outcome(f"【雪亮】您目前没有待办案卷。{HELP}", "suppressed", "sms:no_case")
        if len(waiting) > 1:
            shown = "、".join(c.number for c in waiting[:3]) + ("等" if len(waiting) > 3 else "")
            return Outcome(
                f"【雪亮】您有 {len(waiting)} 件待办案卷（{shown}），请回复“收到 案卷编号”或“完成 案卷编号”。",
                "suppressed",
                "sms:ambiguous",
            )
        number = waiting[0].number
    case = session.execute(select(Case).where(Case.number == number)).scalar_one_or_none()
    if case is None:
        return Outcome(f"【雪亮】没有案卷 {number}，请核对编号。{HELP}", "suppressed", "sms:unknown_case")
    contact = next((c for c in contacts if c.unit_id == case.responsible_unit_id), contacts[0])
    actor = f"sms:{contact.name}"
    note = reply.note
    if reply.action == "report_fixed":
        stored = sum(1 for p in photos if not p.error)
        note = note or "短信反馈：已完成整改"
        if photos:
            note = f"{note}（附照片 {stored} 张）" if stored else f"{note}（照片未能保存）"
    try:
        with session.begin_nested():
            act_as_contact(session, number, reply.action, contact.id, ActParams(note=note), now)
            for photo in photos:
                add_after_photo(session, number, photo, actor, now)
    except DomainError as exc:
        return Outcome(f"【雪亮】未能办理：{exc.zh}", "suppressed", f"sms:{exc.code}", reply.action, number, None)
    if reply.action == "acknowledge":
        text = (
            f"【雪亮】已签收案卷 {number}，请于{_when(case.rectify_due)}前完成整改，"
            f"完成后回复“完成 {number}”并附现场照片。"
        )
    else:
        extra = f"及照片 {sum(1 for p in photos if not p.error)} 张" if photos else ""
        text = f"【雪亮】已收到案卷 {number} 的整改反馈{extra}，待核查结案。"
    return Outcome(text, "cased", None, reply.action, number, case.id)
