"""The hash chain over each case's history: every CaseEvent carries sha256(previous hash + its own content)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.cases import Case, CaseEvent

GENESIS = "0" * 64


def event_digest(number: str, event: CaseEvent, prev_hash: str) -> str:
    content: dict[str, Any] = {
        "case": number,
        "seq": event.seq,
        "version": event.version,
        "action": event.action,
        "actor": event.actor,
        "at": event.at.isoformat(timespec="microseconds"),
        "note": event.note,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "from_tier": event.from_tier,
        "to_tier": event.to_tier,
        "data": event.data or {},
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    case: str
    seq: int
    reason: str


@dataclass(frozen=True)
class AuditReport:
    cases: int
    events: int
    broken: list[BrokenLink]

    @property
    def ok(self) -> bool:
        return not self.broken


def verify_chains(session: Session, batch: int = 5000) -> AuditReport:
    """Recompute every chain in case then sequence order; report the first broken link of each broken case.

    Besides edited rows (hash mismatch) it finds removed rows: a gap in the sequence, or a history that ends
    before the case's current version.
    """
    broken: list[BrokenLink] = []
    cases = events = 0
    stmt = (
        select(CaseEvent, Case.number, Case.version)
        .join(Case, Case.id == CaseEvent.case_id)
        .order_by(CaseEvent.case_id, CaseEvent.seq)
        .execution_options(yield_per=batch)
    )
    current: tuple[int, str, int] | None = None  # case id, number, case version
    prev, expected_seq, last_version, failed = GENESIS, 1, 0, False

    def close_case() -> None:
        if current is not None and not failed and last_version != current[2]:
            broken.append(
                BrokenLink(current[1], expected_seq, f"history ends at version {last_version}, case is at {current[2]}")
            )

    for event, number, case_version in session.execute(stmt):
        if current is None or event.case_id != current[0]:
            close_case()
            current = (event.case_id, number, case_version)
            prev, expected_seq, last_version, failed = GENESIS, 1, 0, False
            cases += 1
        events += 1
        if failed:
            continue
        reason = None
        if event.seq != expected_seq:
            reason = f"sequence jumps from {expected_seq - 1} to {event.seq} (a row was removed)"
        elif event.prev_hash != prev:
            reason = "prev_hash does not match the previous row's hash"
        elif event_digest(number, event, prev) != event.hash:
            reason = "row content does not match its hash (edited)"
        if reason:
            broken.append(BrokenLink(number, event.seq, reason))
            failed = True
        prev, expected_seq, last_version = event.hash, event.seq + 1, event.version
    close_case()
    orphans = select(Case.number).where(~select(CaseEvent.id).where(CaseEvent.case_id == Case.id).exists())
    for number in session.execute(orphans).scalars():
        broken.append(BrokenLink(number, 1, "the case has no history at all (rows removed)"))
        cases += 1
    return AuditReport(cases=cases, events=events, broken=broken)
