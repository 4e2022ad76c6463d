"""Evidence items of a case and their chain of custody.

Adding an item is one unit of work: the Evidence row and a hash-chained history entry (action `evidence`,
with the file's hash, size and source) are written together, through the same `record_event` as every other
change, so the item appears in `xueliang case show`, in the outbox (`case.evidence`) and in the audit chain. The
case keeps its state and tier; only its version steps.

An item that could not be produced (an unreachable clip URL, a corrupt file) is recorded as failed with the
reason (action `evidence_failed`); the case goes on. An item that came in without a blurred copy (an after photo
sent by SMS) gets one later, also with a custody entry (action `evidence_redacted`).

Idempotency: the same file (sha256) of the same kind is one item per case, so a retried evidence flow adds
nothing; the same failure (kind and source) is recorded once.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cases import Case, Evidence
from models.commands import get_case, record_event
from models.db import utcnow
from models.errors import NotFound, ValidationError

KINDS: dict[str, str] = {
    "snapshot": "抓拍图",
    "keyframe": "关键帧",
    "clip": "视频片段",
    "contact_sheet": "关键帧拼图",
    "photo": "照片",
    "after_photo": "整改后照片",
    "comparison": "整改前后对比",
}
IMAGE_KINDS = ("snapshot", "keyframe", "photo", "after_photo")
BEFORE_KINDS = ("keyframe", "snapshot", "photo")  # what shows the problem, for verification
STATUSES = frozenset({"pending", "ready", "failed"})
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _record(
    session: Session, case: Case, action: str, actor: str, now: datetime, note: str, data: dict[str, Any]
) -> None:
    """A custody entry: the case keeps its state and tier."""
    record_event(session, case, action, actor, now, note, case.state, case.tier, data)


def _check(kind: str, sha256: str | None, size: int | None, status: str) -> None:
    if kind not in KINDS:
        raise ValidationError(f"未知的证据类型 {kind}", f"unknown evidence kind {kind} (one of {', '.join(KINDS)})")
    if sha256 is not None and not _SHA256.fullmatch(sha256):
        raise ValidationError("sha256 须为 64 位小写十六进制", "sha256 must be 64 lowercase hex digits")
    if size is not None and size < 0:
        raise ValidationError("文件大小不能为负", "size must not be negative")
    if status not in STATUSES:
        raise ValidationError(f"未知的证据状态 {status}", f"unknown evidence status {status}")


def add_evidence(
    session: Session,
    case_number: str,
    *,
    kind: str,
    uri: str | None,
    redacted_uri: str | None,
    sha256: str | None,
    size: int | None,
    source: str | None,
    captured_at: datetime | None,
    face_count: int | None,
    status: str = "ready",
    error: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> Evidence:
    """Insert an evidence item and its custody entry in the caller's transaction; the existing item when the
    case already has this file (kind and sha256)."""
    _check(kind, sha256, size, status)
    now = now or utcnow()
    case = get_case(session, case_number, lock=True)  # serialises concurrent adds to one case (PostgreSQL)
    if sha256 is not None:
        existing = session.execute(
            select(Evidence)
            .where(Evidence.case_id == case.id, Evidence.kind == kind, Evidence.sha256 == sha256)
            .order_by(Evidence.id)
            .limit(1)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    item = Evidence(
        case_id=case.id,
        kind=kind,
        uri=uri,
        redacted_uri=redacted_uri,
        sha256=sha256,
        size=size,
        source=(source or "")[:500] or None,
        captured_at=captured_at,
        face_count=face_count,
        status=status,
        error=error,
        created_at=now,
        created_by=actor,
    )
    session.add(item)
    session.flush()
    note = f"{KINDS[kind]}入卷 / {kind} added" + (f" sha256 {sha256[:12]}…" if sha256 else "")
    if face_count:
        note += f"，{face_count} 张人脸已模糊 / {face_count} face(s) blurred"
    data: dict[str, Any] = {
        "evidence": item.id,
        "kind": kind,
        "sha256": sha256,
        "size": size,
        "source": item.source,
        "redacted": redacted_uri is not None,
        "face_count": face_count,
    }
    _record(session, case, "evidence", actor, now, note, data)
    return item


def fail_evidence(
    session: Session,
    case_number: str,
    *,
    kind: str,
    source: str | None,
    error: str,
    actor: str,
    now: datetime | None = None,
    evidence_id: int | None = None,
) -> Evidence:
    """Record that an evidence item could not be produced, and why. With `evidence_id`, that (pending) item is
    marked failed; otherwise a failed item is added, unless the same kind from the same source has already
    failed (then that one is returned and nothing is written)."""
    _check(kind, None, None, "failed")
    now = now or utcnow()
    reason = " ".join(str(error).split())[:2000] or "unknown error"
    case = get_case(session, case_number, lock=True)
    stored_source = (source or "")[:500] or None
    if evidence_id is not None:
        item = session.get(Evidence, evidence_id)
        if item is None or item.case_id != case.id:
            raise NotFound(
                f"案卷 {case_number} 没有证据 {evidence_id}", f"case {case_number} has no evidence {evidence_id}"
            )
        if item.status == "failed":
            return item
        item.status = "failed"
        item.error = reason
    else:
        item = session.execute(
            select(Evidence)
            .where(
                Evidence.case_id == case.id,
                Evidence.kind == kind,
                Evidence.status == "failed",
                Evidence.source == stored_source if stored_source is not None else Evidence.source.is_(None),
            )
            .limit(1)
        ).scalar_one_or_none()
        if item is not None:
            return item
        item = Evidence(
            case_id=case.id,
            kind=kind,
            source=stored_source,
            status="failed",
            error=reason,
            created_at=now,
            created_by=actor,
        )
        session.add(item)
    session.flush()
    data = {"evidence": item.id, "kind": kind, "source": stored_source, "error": reason[:500]}
    note = f"{KINDS[kind]}获取失败 / {kind} failed: {reason[:300]}"
    _record(session, case, "evidence_failed", actor, now, note, data)
    return item


def record_redaction(
    session: Session,
    case_number: str,
    evidence_id: int,
    *,
    redacted_uri: str,
    redacted_sha256: str,
    face_count: int,
    actor: str,
    now: datetime | None = None,
) -> Evidence:
    """The blurred copy of an item that arrived without one (a citizen's photo, an after photo sent by SMS),
    with its custody entry (action `evidence_redacted`). Recording the same copy again changes nothing."""
    if not _SHA256.fullmatch(redacted_sha256):
        raise ValidationError("sha256 须为 64 位小写十六进制", "sha256 must be 64 lowercase hex digits")
    now = now or utcnow()
    case = get_case(session, case_number, lock=True)
    item = session.get(Evidence, evidence_id)
    if item is None or item.case_id != case.id:
        raise NotFound(
            f"案卷 {case_number} 没有证据 {evidence_id}", f"case {case_number} has no evidence {evidence_id}"
        )
    if item.redacted_uri == redacted_uri:
        return item
    item.redacted_uri = redacted_uri
    item.face_count = face_count
    session.flush()
    data = {
        "evidence": item.id,
        "kind": item.kind,
        "sha256": item.sha256,
        "redacted_sha256": redacted_sha256,
        "face_count": face_count,
    }
    note = f"{KINDS.get(item.kind, item.kind)}已做人脸模糊 / {item.kind} redacted ({face_count} face(s))"
    _record(session, case, "evidence_redacted", actor, now, note, data)
    return item


def unredacted(session: Session, case_number: str) -> list[Evidence]:
    """Ready image items of a case that have no blurred copy yet."""
    case = get_case(session, case_number)
    return list(
        session.execute(
            select(Evidence)
            .where(
                Evidence.case_id == case.id,
                Evidence.status == "ready",
                Evidence.redacted_uri.is_(None),
                Evidence.uri.is_not(None),
                Evidence.kind.in_(IMAGE_KINDS),
            )
            .order_by(Evidence.id)
        ).scalars()
    )


def case_evidence(session: Session, case_number: str) -> list[Evidence]:
    case: Case = get_case(session, case_number)
    return list(session.execute(select(Evidence).where(Evidence.case_id == case.id).order_by(Evidence.id)).scalars())


def before_and_after(items: list[Evidence]) -> tuple[Evidence | None, Evidence | None]:
    """What verification compares: the first ready picture of the problem (keyframe, snapshot or photo) and the
    unit's latest ready after photo; either is None when the case has none."""
    ready = [e for e in items if e.status == "ready" and e.uri]
    before = next((e for e in ready if e.kind in BEFORE_KINDS), None)
    after = next((e for e in reversed(ready) if e.kind == "after_photo"), None)
    return before, after


__all__ = [
    "KINDS",
    "add_evidence",
    "before_and_after",
    "case_evidence",
    "fail_evidence",
    "record_redaction",
    "unredacted",
]
