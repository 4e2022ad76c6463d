"""What the admin pages share: running an admin command (models/admin.py) through ui.session.perform, showing a
generated secret exactly once, and the option lists of their unit pickers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.admin import AdminChange
from models.org import AdminUnit, ResponsibleUnit
from ui.i18n import LOCAL_TZ, tr
from ui.session import perform

SECRET_KEY = "_admin_secret"
KEEP = ""  # the "leave unchanged" choice of edit forms' pickers


def run(command: Callable[[Session], object], success: str, secret_label: str | None = None) -> None:
    """Run one admin command; its outcome is flashed after the rerun this triggers. A secret the command
    generated (a source token, a Basic password) is kept for the next run only, then forgotten."""
    change = perform(command, success=success)
    if isinstance(change, AdminChange) and change.secret is not None:
        st.session_state[SECRET_KEY] = (secret_label or "", change.secret)
    st.rerun()


def show_secret() -> None:
    """The secret the last command generated, with the warning that it is shown this once."""
    kept = st.session_state.pop(SECRET_KEY, None)
    if kept is None:
        return
    label, secret = kept
    st.warning(
        tr(
            f"{label}：请立即复制并妥善保存，此值只显示这一次，系统只保存其摘要。",
            f"{label}: copy it now and keep it safe. It is shown this once; only its digest is stored.",
        )
    )
    st.code(secret, language=None)


def table(rows: Sequence[dict[str, Any]], key: str) -> None:
    """A read-only table (or a note that the filter matched nothing)."""
    if not rows:
        st.info(tr("没有符合条件的记录", "Nothing matches"))
        return
    st.dataframe(pd.DataFrame(rows), key=key, hide_index=True, width="stretch")


def text_filter(label_zh: str, label_en: str, key: str) -> str:
    return st.text_input(tr(label_zh, label_en), key=key, placeholder=tr("名称或代码", "name or code")).strip()


def filter_bar(
    find: tuple[str, str], find_key: str, label: str, labels: Mapping[str, str], key: str
) -> tuple[str, str]:
    """A search box (`find`: its zh and en label) beside a picker whose first choice is "all"."""
    left, right = st.columns([2, 1])
    with left:
        needle = text_filter(*find, find_key)
    with right:
        choice = choose(label, all_or(labels), key)
    return needle, str(choice)


def matches(needle: str, *values: str | None) -> bool:
    return not needle or any(needle.lower() in (value or "").lower() for value in values)


def admin_units(session: Session) -> dict[str, str]:
    """Every administrative unit as code -> "name (code)", tree order."""
    rows = session.execute(select(AdminUnit.code, AdminUnit.name).order_by(AdminUnit.path)).all()
    return {code: f"{name} ({code})" for code, name in rows}


def responsible_units(session: Session) -> dict[str, str]:
    rows = session.execute(select(ResponsibleUnit.code, ResponsibleUnit.name).order_by(ResponsibleUnit.code)).all()
    return {code: f"{name} ({code})" for code, name in rows}


def choose(label: str, labels: Mapping[Any, str], key: str, where: Any = st, index: int = 0) -> Any:
    """A selectbox over `labels` (value -> label). The labels are made now, in the viewer's language; a format
    function translating later would run outside the script (AppTest) and answer in the default language."""
    return where.selectbox(label, list(labels), index=index, key=key, format_func=lambda v: labels.get(v, str(v)))


def keep_or(options: Mapping[str, str]) -> dict[str, str]:
    """Picker labels with a first "unchanged" choice."""
    return {KEEP: tr("（不变）", "(unchanged)"), **options}


def all_or(options: Mapping[str, str]) -> dict[str, str]:
    """Filter labels with a first "all" choice."""
    return {"": tr("全部", "all"), **options}


def changed(**values: Any) -> dict[str, Any]:
    """The fields an edit form actually filled in (blank text, None and the "unchanged" choice are left out)."""
    return {name: value for name, value in values.items() if value is not None and value != KEEP}


def end_of_day(day: date | None) -> datetime | None:
    """The end of a local (Asia/Shanghai) day as an aware instant, for "until" dates."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=LOCAL_TZ)
