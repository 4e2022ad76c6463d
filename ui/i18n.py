"""Language and time for the console: Simplified Chinese first, English on request; times stored in UTC and
shown in Asia/Shanghai. Pages write their text inline as `tr("中文", "English")`, so each string's two languages
sit side by side where it is used."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from models.errors import DomainError
from models.workflow import ACTIONS, STATE_NAMES, TIER_NAMES

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
LANGS = ("zh", "en")


def lang() -> str:
    value = st.session_state.get("lang", "zh")
    return value if value in LANGS else "zh"


def tr(zh: str, en: str) -> str:
    return zh if lang() == "zh" else en


def error_text(error: DomainError) -> str:
    return error.message(lang())


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) instant as Asia/Shanghai wall time; naive values are taken as UTC."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).strftime(fmt)


def countdown(due: datetime | None, now: datetime) -> str:
    """Time left until `due` ("剩余 3小时20分" / "超期 1天2小时"), for SLA columns."""
    if due is None:
        return "—"
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    seconds = int((due - now).total_seconds())
    late = seconds < 0
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if lang() == "zh":
        span = (f"{days}天" if days else "") + (f"{hours}小时" if days or hours else "") + f"{mins}分"
        return ("超期 " if late else "剩余 ") + span
    span = (f"{days}d " if days else "") + (f"{hours}h " if days or hours else "") + f"{mins}m"
    return ("overdue " if late else "") + span + ("" if late else " left")


def state_name(state: str) -> str:
    zh, en = STATE_NAMES.get(state, (state, state))
    return tr(zh, en)


def tier_name(tier: str) -> str:
    zh, en = TIER_NAMES.get(tier, (tier, tier))
    return tr(zh, en)


def action_name(action: str) -> str:
    spec = ACTIONS.get(action)
    if spec is None:
        return {"create": tr("创建", "created"), "route": tr("分拨", "routed"), "absorb": tr("并入", "absorbed")}.get(
            action, action
        )
    return tr(spec.zh, spec.en)


SOURCE_NAMES: dict[str, tuple[str, str]] = {
    "camera": ("摄像机告警", "camera alarm"),
    "citizen": ("群众举报", "citizen report"),
    "hotline": ("12345热线", "12345 hotline"),
    "patrol": ("视频巡查", "video patrol"),
}


def source_name(source: str) -> str:
    zh, en = SOURCE_NAMES.get(source, (source, source))
    return tr(zh, en)
