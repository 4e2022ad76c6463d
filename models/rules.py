"""Routing rules are edited by admins, and versioned: an edit deactivates the active row of the key and inserts
the next version, so every case keeps the exact rule it was routed by (Case.routing_rule_id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.commands import get_user
from models.db import utcnow
from models.errors import Forbidden, NotFound, ValidationError
from models.org import Role, Tier
from models.taxonomy import RoutingRule

EDITABLE = {
    "category_id",
    "area_id",
    "start_tier",
    "responsible_unit_id",
    "review_hours_village",
    "review_hours_township",
    "review_hours_city",
    "ack_hours",
    "rectify_hours",
    "rectify_working_days",
    "calendar",
}


def active_rule(session: Session, key: str) -> RoutingRule | None:
    return session.execute(
        select(RoutingRule)
        .where(RoutingRule.key == key, RoutingRule.active.is_(True))
        .order_by(RoutingRule.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def _validate(values: dict[str, Any]) -> None:
    unknown = set(values) - EDITABLE
    if unknown:
        raise ValidationError(f"不可修改的字段：{sorted(unknown)}", f"not editable: {sorted(unknown)}")
    if "start_tier" in values and values["start_tier"] not in {t.value for t in Tier}:
        raise ValidationError("起始层级须为 village/township/city", "start_tier must be village, township or city")
    if "calendar" in values and values["calendar"] not in {"24x7", "working"}:
        raise ValidationError("calendar 须为 24x7 或 working", "calendar must be 24x7 or working")
    for name, value in values.items():
        if name.endswith("_hours") and (value is None or float(value) <= 0):
            raise ValidationError(f"{name} 须为正数", f"{name} must be a positive number of hours")
    days = values.get("rectify_working_days")
    if days is not None and not (1 <= int(days) <= 60):
        raise ValidationError("整改工作日须在 1-60 之间", "rectify_working_days must be 1 to 60")


def save_rule_version(
    session: Session, key: str, values: dict[str, Any], actor: str, now: datetime | None = None
) -> RoutingRule:
    """Insert `key`'s next version with `values` over the active one (or from defaults for a new key); the
    active version is deactivated. Nothing happens when the values equal the active version's."""
    _validate(values)
    current = active_rule(session, key)
    if current is not None and all(getattr(current, name) == value for name, value in values.items()):
        return current
    latest = session.scalar(select(func.max(RoutingRule.version)).where(RoutingRule.key == key)) or 0
    base = {name: getattr(current, name) for name in EDITABLE} if current is not None else {}
    if current is not None:
        current.active = False
        session.flush()
    rule = RoutingRule(
        key=key, version=latest + 1, active=True, created_at=now or utcnow(), created_by=actor, **{**base, **values}
    )
    session.add(rule)
    session.flush()
    return rule


def edit_rule(
    session: Session, key: str, values: dict[str, Any], username: str, now: datetime | None = None
) -> RoutingRule:
    """An admin's edit of a routing rule (the console and the CLI call this)."""
    user = get_user(session, username)
    if user.role != Role.ADMIN:
        raise Forbidden(
            f"只有管理员可以修改路由规则，{username} 是 {user.role}",
            f"only admins edit routing rules; {username} is a {user.role}",
        )
    if active_rule(session, key) is None:
        raise NotFound(f"没有路由规则 {key}", f"no routing rule {key}")
    return save_rule_version(session, key, values, username, now)
