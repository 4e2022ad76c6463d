"""A simulated clock drives 1,000 cases through every path of the closed loop, with the SLA sweep and the outbox
relay running as they would; each case must end in its expected state with a complete, intact history."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from flows.relay import relay_once
from models.audit import verify_chains
from models.cases import Case, CaseEvent, Notice, Source
from models.commands import ActParams, act, create_case, get_category, get_user
from models.db import Database
from models.settings import Settings
from models.sla import run_sweep

T0 = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)  # Wednesday 09:00 in Shanghai
N = 1000
PATHS = ("auto_escalate", "overdue", "rework", "return", "ext_ok", "ext_refused", "park", "reopen", "merge", "reject")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.slow
def test_thousand_cases_through_every_path(demo: Database) -> None:
    settings = Settings.load(environ={})
    numbers: list[str] = []
    with demo.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        category = get_category(s, "E0201")
        for i in range(N):
            case = create_case(
                s,
                source=Source.CITIZEN,
                category=category,
                place=place,
                description=f"模拟案卷 {i}",
                actor="simulator",
                now=T0 + timedelta(seconds=i),
                lat=place.lat,
                lon=place.lon,
            )
            numbers.append(case.number)

    def do(number: str, action: str, user: str, hours: float, **params: object) -> None:
        with demo.write() as s:
            act(s, number, action, user, ActParams(**params), now=at(hours))  # type: ignore[arg-type]

    rv, dv = "reviewer_village", "dispatcher_village"
    for i, number in enumerate(numbers):
        path = PATHS[i % len(PATHS)]
        if path == "auto_escalate":
            continue
        if path in ("reject",):
            do(number, "reject", rv, 0.5, note="误报")
            continue
        if path == "merge":
            do(number, "merge", rv, 0.5, target=numbers[i - 1])  # into the previous case (the reopen path's)
            continue
        do(number, "dispatch", rv, 0.5)
        if path == "return":
            do(number, "return", dv, 0.6, note="非本单位职责")
            do(number, "dispatch", rv, 0.7)
            continue
        do(number, "acknowledge", dv, 0.6)
        if path == "rework":
            do(number, "report_fixed", dv, 5)
            do(number, "verify_fail", rv, 6, note="不彻底")
            do(number, "report_fixed", dv, 8)
            do(number, "verify_pass", rv, 9)
        elif path in ("ext_ok", "ext_refused"):
            do(number, "request_extension", dv, 2, note="需要更多时间", due=at(24 * 20))
            if path == "ext_ok":
                do(number, "approve_extension", rv, 3)
            else:
                do(number, "refuse_extension", rv, 3, note="不予延期")
        elif path == "park":
            do(number, "park", rv, 2, note="需要专项资金")
        elif path == "reopen":
            do(number, "report_fixed", dv, 5)
            do(number, "verify_pass", rv, 6)
            do(number, "reopen", rv, 30, note="群众再次反映")
            do(number, "dispatch", rv, 30.2)

    # time passes: three review deadlines (village -> township -> city -> leadership), then ten days
    for hours in (1.1, 2.2, 3.3, 24 * 10):
        run_sweep(demo, at(hours))
    assert run_sweep(demo, at(24 * 10)).as_dict() == {
        "escalated": [],
        "flagged_review": [],
        "flagged_ack": [],
        "flagged_rectify": [],
    }, "a second sweep at the same time must do nothing"

    relay = relay_once(demo, settings, emit=None, limit=100_000, now=at(24 * 10))
    assert relay.failed == 0
    again = relay_once(demo, settings, emit=None, limit=100_000, now=at(24 * 11))
    assert (again.handled, again.notices) == (0, [])

    expected = {
        "auto_escalate": ("reviewing", "city", True, True),
        "overdue": ("acknowledged", "village", True, True),
        "rework": ("closed", "village", False, False),
        "return": ("dispatched", "village", True, True),
        "ext_ok": ("acknowledged", "village", False, False),
        "ext_refused": ("acknowledged", "village", True, True),
        "park": ("parked", "village", False, False),
        "reopen": ("dispatched", "village", True, True),  # re-dispatched on day 2, overdue by day 10
        "merge": ("merged", "village", False, False),
        "reject": ("rejected", "village", False, False),
    }
    with demo.read() as s:
        cases = {c.number: c for c in s.execute(select(Case)).scalars()}
        events = dict(s.execute(select(CaseEvent.case_id, func.count()).group_by(CaseEvent.case_id)).all())
        notices = Counter(s.execute(select(Notice.kind)).scalars())
        outcome = Counter()
        for i, number in enumerate(numbers):
            path = PATHS[i % len(PATHS)]
            case = cases[number]
            got = (case.state, case.tier, case.supervised, case.overdue)
            assert got == expected[path], f"{number} ({path}): {got}"
            assert events[case.id] == case.version, f"{number}: history has gaps"
            outcome[path] += 1
        assert sum(1 for c in cases.values() if c.rework_count == 1) == N // len(PATHS)
        assert all(cases[numbers[i - 1]].reporter_count == 2 for i in range(N) if PATHS[i % len(PATHS)] == "merge")
        report = verify_chains(s)
    assert report.ok and report.cases == N
    per_path = N // len(PATHS)
    # one dispatch notice per dispatch, one rework notice, one reminder per overdue flag
    dispatches = per_path * (
        1 + 1 + 2 + 1 + 1 + 1 + 2
    )  # overdue, rework, return x2, ext_ok, ext_refused, park, reopen x2
    assert notices == {
        "dispatch": dispatches,
        "rework": per_path,
        "reminder": per_path * 4,  # overdue, return (re-dispatched), ext_refused, reopen (re-dispatched)
    }
    assert set(outcome) == set(PATHS)
