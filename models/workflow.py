"""The closed loop as data: which action goes from which states to which, who may take it, what it needs.

`ACTIONS` is the single table the CLI, the flows and the console read; `check` is the single guard. Effects
of each action (deadlines, counters) are in models.commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from models.cases import Case, State
from models.errors import Forbidden, IllegalAction, ValidationError
from models.org import TIER_ORDER, Role, Tier, User


class Who(StrEnum):
    """Whose action it is, relative to the case."""

    TIER_REVIEWER = "tier_reviewer"  # a reviewer of the case's current tier whose unit contains the place
    UNIT_DISPATCHER = "unit_dispatcher"  # a dispatcher of the case's responsible unit
    VERIFIER = "verifier"  # an inspector whose unit contains the place, or a tier reviewer
    REOPENER = "reopener"  # a tier reviewer, or an admin


@dataclass(frozen=True)
class ActionSpec:
    name: str
    zh: str
    en: str
    from_states: frozenset[State]
    to_state: State | None  # None: the state stays (or is computed, as for unpark)
    who: Who
    needs_note: bool = False
    needs_unit: bool = False
    needs_due: bool = False
    needs_target: bool = False


def _spec(name: str, zh: str, en: str, sources: set[State], to: State | None, who: Who, **needs: bool) -> ActionSpec:
    return ActionSpec(name, zh, en, frozenset(sources), to, who, **needs)


R, D, A, F, P = State.REVIEWING, State.DISPATCHED, State.ACKNOWLEDGED, State.RECTIFIED, State.PARKED

ACTIONS: dict[str, ActionSpec] = {
    s.name: s
    for s in (
        _spec("register", "立案", "register", {R}, R, Who.TIER_REVIEWER),
        _spec("escalate", "上报", "escalate", {R}, R, Who.TIER_REVIEWER),
        _spec("reject", "不予立案", "reject", {R}, State.REJECTED, Who.TIER_REVIEWER, needs_note=True),
        _spec("merge", "合并", "merge", {R}, State.MERGED, Who.TIER_REVIEWER, needs_target=True),
        _spec("dispatch", "派遣", "dispatch", {R}, D, Who.TIER_REVIEWER),
        _spec("acknowledge", "签收", "acknowledge", {D}, A, Who.UNIT_DISPATCHER),
        _spec("return", "退回", "return", {D, A}, R, Who.UNIT_DISPATCHER, needs_note=True),
        _spec(
            "request_extension",
            "申请延期",
            "request extension",
            {D, A},
            None,
            Who.UNIT_DISPATCHER,
            needs_note=True,
            needs_due=True,
        ),
        _spec("approve_extension", "批准延期", "approve extension", {D, A}, None, Who.TIER_REVIEWER),
        _spec("refuse_extension", "驳回延期", "refuse extension", {D, A}, None, Who.TIER_REVIEWER, needs_note=True),
        _spec("report_fixed", "处理反馈", "report fixed", {D, A}, F, Who.UNIT_DISPATCHER),
        _spec("verify_pass", "核查结案", "verify and close", {F}, State.CLOSED, Who.VERIFIER),
        _spec("verify_fail", "核查不通过(返工)", "verify failed (rework)", {F}, D, Who.VERIFIER, needs_note=True),
        _spec("park", "挂账", "park", {R, D, A}, P, Who.TIER_REVIEWER, needs_note=True),
        _spec("unpark", "取消挂账", "unpark", {P}, None, Who.TIER_REVIEWER),
        _spec("reopen", "重新办理", "reopen", {State.CLOSED, State.REJECTED}, R, Who.REOPENER, needs_note=True),
    )
}

STATE_NAMES: dict[str, tuple[str, str]] = {
    "reviewing": ("审核中", "reviewing"),
    "dispatched": ("已派遣", "dispatched"),
    "acknowledged": ("已签收", "acknowledged"),
    "rectified": ("已整改待核查", "rectified"),
    "parked": ("挂账", "parked"),
    "closed": ("已结案", "closed"),
    "rejected": ("不予立案", "rejected"),
    "merged": ("已合并", "merged"),
}
TIER_NAMES: dict[str, tuple[str, str]] = {
    "village": ("村级", "village"),
    "township": ("乡镇级", "township"),
    "city": ("市级", "city"),
}


def next_tier(tier: str) -> Tier | None:
    index = TIER_ORDER.index(Tier(tier))
    return TIER_ORDER[index + 1] if index + 1 < len(TIER_ORDER) else None


def user_tier(user: User) -> Tier | None:
    return user.admin_unit.tier if user.admin_unit is not None else None


def _in_scope(user: User, case: Case) -> bool:
    return user.admin_unit is not None and case.unit_path.startswith(user.admin_unit.path)


def _is_tier_reviewer(user: User, case: Case) -> bool:
    return user.role == Role.REVIEWER and user_tier(user) == case.tier and _in_scope(user, case)


def _deny_reviewer(user: User, case: Case, spec: ActionSpec) -> Forbidden:
    tier_zh, tier_en = TIER_NAMES[case.tier]
    if user.role != Role.REVIEWER:
        return Forbidden(
            f"“{spec.zh}”须由{tier_zh}审核员操作，{user.username} 的角色是 {user.role}",
            f"'{spec.en}' is for a {tier_en}-tier reviewer; {user.username} is a {user.role}",
        )
    own = user_tier(user)
    if own != case.tier:
        own_zh, own_en = TIER_NAMES[own] if own else ("无", "no")
        return Forbidden(
            f"案卷 {case.number} 在{tier_zh}审核，{user.username} 是{own_zh}审核员",
            f"case {case.number} is at {tier_en} tier; {user.username} reviews at {own_en} tier",
        )
    return Forbidden(
        f"案卷 {case.number} 所在地 {case.unit.name} 不在 {user.username} 的辖区内",
        f"case {case.number} is in {case.unit.name}, outside {user.username}'s unit scope",
    )


def check_state(spec: ActionSpec, case: Case) -> None:
    """Raise IllegalAction when the case's state (or what it already holds) does not allow `spec`: so that the
    console offers only actions that can succeed, and the CLI refuses the others with the same words."""
    number = case.number
    if State(case.state) not in spec.from_states:
        state_zh, state_en = STATE_NAMES[case.state]
        allowed = ", ".join(sorted(s.value for s in spec.from_states))
        raise IllegalAction(
            f"案卷 {number} 当前状态为“{state_zh}”，不能“{spec.zh}”（仅限：{allowed}）",
            f"case {number} is {state_en}; '{spec.en}' is only possible when {allowed}",
        )
    if spec.name == "register" and case.registered_at is not None:
        raise IllegalAction(f"案卷 {number} 已立案", f"case {number} is already registered")
    if spec.name == "escalate" and next_tier(case.tier) is None:
        raise IllegalAction(f"案卷 {number} 已在市级，不能再上报", f"case {number} is at city tier already")
    if spec.name in ("approve_extension", "refuse_extension") and case.extension_requested_until is None:
        raise IllegalAction(f"案卷 {number} 没有待审批的延期申请", f"case {number} has no pending extension request")


def check(spec: ActionSpec, case: Case, user: User) -> None:
    """Raise IllegalAction or Forbidden when `user` may not take `spec` on `case` now; return otherwise."""
    if not user.active:
        raise Forbidden(f"账号 {user.username} 已停用", f"account {user.username} is disabled")
    check_state(spec, case)
    if spec.who is Who.TIER_REVIEWER:
        if not _is_tier_reviewer(user, case):
            raise _deny_reviewer(user, case, spec)
    elif spec.who is Who.UNIT_DISPATCHER:
        if user.role != Role.DISPATCHER or user.responsible_unit_id != case.responsible_unit_id:
            unit = case.responsible_unit.name if case.responsible_unit else "—"
            raise Forbidden(
                f"“{spec.zh}”须由责任单位 {unit} 的处置人员操作，{user.username} 不是",
                f"'{spec.en}' is for a dispatcher of the responsible unit {unit}; {user.username} is not",
            )
    elif spec.who is Who.VERIFIER:
        inspector = user.role == Role.INSPECTOR and _in_scope(user, case)
        if not (inspector or _is_tier_reviewer(user, case)):
            raise Forbidden(
                f"“{spec.zh}”须由辖区内的巡查员或本级审核员操作，{user.username} 不符合",
                f"'{spec.en}' is for an inspector whose scope holds the case or a reviewer of its tier;"
                f" {user.username} is neither",
            )
    elif spec.who is Who.REOPENER:
        if not (user.role == Role.ADMIN or _is_tier_reviewer(user, case)):
            raise _deny_reviewer(user, case, spec)


def get_spec(action: str) -> ActionSpec:
    spec = ACTIONS.get(action)
    if spec is None:
        raise ValidationError(
            f"未知操作 {action}；可用：{', '.join(ACTIONS)}",
            f"unknown action {action}; use one of {', '.join(ACTIONS)}",
        )
    return spec


def available_actions(case: Case, user: User) -> list[ActionSpec]:
    """The actions `user` may take on `case` now, for the console's single form."""
    allowed = []
    for spec in ACTIONS.values():
        try:
            check(spec, case, user)
        except (Forbidden, IllegalAction):
            continue
        allowed.append(spec)
    return allowed
