"""The demo's cases: every demo account finds work waiting, made through the real commands with intact chains."""

from __future__ import annotations

from sqlalchemy import func, select

from models.audit import verify_chains
from models.cases import Case, Outbox, State
from models.commands import get_user
from models.db import Database
from models.demo_cases import seed_demo_cases
from models.scope import visible_cases


def test_every_demo_role_has_work_and_history_is_genuine(demo: Database) -> None:
    with demo.write() as session:
        opened = seed_demo_cases(session)
    assert opened == 65
    with demo.read() as session:
        assert verify_chains(session).ok

        def waiting(username: str, state: State, tier: str | None = None) -> int:
            user = get_user(session, username)
            stmt = visible_cases(user).where(Case.state == state.value)
            if tier:
                stmt = stmt.where(Case.tier == tier)
            return len(session.execute(stmt).scalars().all())

        assert waiting("reviewer_village", State.REVIEWING, "village") == 2
        assert waiting("reviewer_township", State.REVIEWING, "township") == 1
        assert waiting("dispatcher", State.DISPATCHED) == 1
        assert waiting("inspector_village", State.RECTIFIED) >= 1
        assert waiting("reviewer_village_hedong", State.REVIEWING) == 0
        closed = session.execute(select(func.count()).where(Case.state == State.CLOSED.value)).scalar_one()
        assert 30 <= closed <= 60
        unsent = session.execute(
            select(Outbox.topic, Case.state).join(Case, Case.id == Outbox.case_id).where(Outbox.emitted_at.is_(None))
        ).all()
        assert unsent and set(unsent) == {("case.dispatch", "dispatched")}
    with demo.write() as session:
        assert seed_demo_cases(session) == 0
