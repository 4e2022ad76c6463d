"""The SLA sweep: what is late is escalated, flagged and supervised (督办). Run by the scheduled flow and by
`xueliang sla sweep --now ISO`. Each case is handled in its own transaction, and a handled case no longer
matches (its deadline moved or its flag is set), so running the sweep twice does nothing more."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models.cases import Case, State
from models.commands import SYSTEM, get_case, record_event
from models.db import Database, utcnow
from models.routing import Deadlines
from models.workflow import next_tier


@dataclass
class SweepReport:
    escalated: list[str] = field(default_factory=list)
    flagged_review: list[str] = field(default_factory=list)
    flagged_ack: list[str] = field(default_factory=list)
    flagged_rectify: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "escalated": self.escalated,
            "flagged_review": self.flagged_review,
            "flagged_ack": self.flagged_ack,
            "flagged_rectify": self.flagged_rectify,
        }


def candidates(session: Session, now: datetime) -> list[str]:
    stmt = (
        select(Case.number)
        .where(
            or_(
                and_(Case.state == State.REVIEWING.value, Case.review_due < now, Case.overdue.is_(False)),
                and_(
                    Case.state.in_([State.DISPATCHED.value, State.ACKNOWLEDGED.value]),
                    Case.overdue.is_(False),
                    or_(
                        and_(Case.state == State.DISPATCHED.value, Case.ack_due < now),
                        Case.rectify_due < now,
                    ),
                ),
            )
        )
        .order_by(Case.id)
    )
    return list(session.execute(stmt).scalars())


def sweep_case(session: Session, number: str, now: datetime, report: SweepReport) -> None:
    with session.no_autoflush:
        _sweep_case(session, number, now, report)


def _sweep_case(session: Session, number: str, now: datetime, report: SweepReport) -> None:
    case = get_case(session, number, lock=True)
    from_state, from_tier = case.state, case.tier
    if case.state == State.REVIEWING.value and case.review_due is not None and case.review_due < now:
        up = next_tier(case.tier)
        case.supervised = True
        if up is not None:
            case.tier = up.value
            case.registered_at = None
            case.review_due = Deadlines(session, case.routing_rule).review(now, up.value)
            note = "审核超时，自动上报并督办 / review overdue: escalated and supervised"
            record_event(
                session,
                case,
                "escalate",
                SYSTEM,
                now,
                note,
                from_state,
                from_tier,
                {"auto": True, "reason": "review_overdue"},
            )
            report.escalated.append(number)
        else:
            case.overdue = True
            note = "市级审核超时，报领导督办 / overdue at city tier: reported to leadership"
            record_event(
                session,
                case,
                "supervise",
                SYSTEM,
                now,
                note,
                from_state,
                from_tier,
                {"reason": "review_overdue", "leadership": True},
            )
            report.flagged_review.append(number)
        return
    stage = None
    if case.state == State.DISPATCHED.value and case.ack_due is not None and case.ack_due < now:
        stage = "ack"
    elif case.rectify_due is not None and case.rectify_due < now:
        stage = "rectify"
    if stage is None or case.overdue:
        return
    case.overdue = True
    case.supervised = True
    supervision = next_tier(case.tier)
    note = {
        "ack": "签收超时，提醒责任单位并督办 / acknowledgement overdue: unit reminded, supervised",
        "rectify": "整改超时，提醒责任单位并督办 / rectification overdue: unit reminded, supervised",
    }[stage]
    record_event(
        session,
        case,
        "supervise",
        SYSTEM,
        now,
        note,
        from_state,
        from_tier,
        {
            "reason": f"{stage}_overdue",
            "remind_unit": case.responsible_unit.code if case.responsible_unit else None,
            "supervision_tier": supervision.value if supervision else case.tier,
            "leadership": supervision is None,
        },
    )
    (report.flagged_ack if stage == "ack" else report.flagged_rectify).append(number)


def run_sweep(db: Database, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    with db.read() as session:
        numbers = candidates(session, now)
    for number in numbers:
        with db.write() as session:
            sweep_case(session, number, now, report)
    return report
