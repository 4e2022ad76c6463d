"""Unit scope: which cases a user may see. Every list, detail and statistic in the console goes through here, so
that a village reviewer cannot reach another village's case by any page, link or parameter."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from models.cases import Case
from models.commands import get_case, get_user
from models.errors import NotFound
from models.org import Role, User


def case_scope(user: User) -> ColumnElement[bool]:
    """The condition on Case rows that `user` may see: dispatchers their unit's cases, admins all, everyone else
    the cases whose place lies inside their administrative unit."""
    if not user.active:
        return false()
    if user.role == Role.ADMIN:
        return true()
    if user.role == Role.DISPATCHER:
        if user.responsible_unit_id is None:
            return false()
        return Case.responsible_unit_id == user.responsible_unit_id
    if user.admin_unit is None:
        return false()
    return Case.unit_path.startswith(user.admin_unit.path)


def visible_cases(user: User) -> Select[tuple[Case]]:
    return select(Case).where(case_scope(user))


def can_see(user: User, case: Case) -> bool:
    if not user.active:
        return False
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.DISPATCHER:
        return user.responsible_unit_id is not None and case.responsible_unit_id == user.responsible_unit_id
    return user.admin_unit is not None and case.unit_path.startswith(user.admin_unit.path)


def get_visible_case(session: Session, username: str, number: str) -> Case:
    """The case, if `username` may see it. A case outside the scope is reported exactly like a missing one, so
    that its existence does not leak either."""
    user = get_user(session, username)
    case = get_case(session, number.strip())
    if not can_see(user, case):
        raise NotFound(f"没有案卷 {number}", f"no case {number}")
    return case


def scope_path(user: User) -> str | None:
    """The unit path statistics are limited to (None: everything, for admins and city-wide leaders)."""
    if user.role == Role.ADMIN or user.admin_unit is None:
        return None
    return user.admin_unit.path
