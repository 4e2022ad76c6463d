"""Review queue (审核队列): the cases of the reviewer's tier and unit waiting on them, overdue and nearest-due
first, with the counters a review centre watches. A row (or a number picked below the table) opens the case."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from models.cases import Source, State
from models.commands import get_user
from models.db import utcnow
from models.queues import DUE_SOON, QueueFilter, QueueRow, category_choices, queue_counts, reviewer_queue
from ui.i18n import countdown, local_time, source_name, state_name, tier_name, tr
from ui.session import database, require

QUEUE_STATES = (State.REVIEWING, State.DISPATCHED, State.ACKNOWLEDGED, State.RECTIFIED, State.PARKED)


def open_case(number: str) -> None:
    st.switch_page("screens/case.py", query_params={"n": number})


def state_text(row: QueueRow) -> str:
    text = state_name(row.state)
    if row.extension_until is not None:
        text += " · " + tr(
            f"申请延期至 {local_time(row.extension_until)}", f"extension asked to {local_time(row.extension_until)}"
        )
    return text


def table(rows: list[QueueRow]) -> pd.DataFrame:
    now = utcnow()
    return pd.DataFrame(
        {
            tr("案卷编号", "Number"): [r.number for r in rows],
            tr("类别", "Category"): [tr(r.category_name, r.category_name_en) for r in rows],
            tr("地点", "Place"): [r.place for r in rows],
            tr("来源", "Source"): [source_name(r.source) for r in rows],
            tr("状态", "State"): [state_text(r) for r in rows],
            tr("层级", "Tier"): [tier_name(r.tier) for r in rows],
            tr("时限", "Deadline"): [countdown(r.due, now) for r in rows],
            tr("超期", "Overdue"): [tr("⚠ 超期", "⚠ overdue") if r.late else "" for r in rows],
            tr("督办", "Supervised"): [tr("督办", "supervised") if r.supervised else "" for r in rows],
            tr("举报人数", "Reporters"): [r.reporter_count for r in rows],
            tr("创建时间", "Created"): [local_time(r.created_at) for r in rows],
        }
    )


def any_of(column: DeltaGenerator, label: str, labels: dict[str, str], key: str) -> str | None:
    """A filter: one of `labels` (value -> label), or None for all. The labels are bound in the viewer's language
    here, not looked up when an option is drawn or read back (AppTest reads them back outside the script run,
    where the language is not known)."""
    return column.selectbox(
        label, list(labels), index=None, format_func=labels.__getitem__, placeholder=tr("全部", "all"), key=key
    )


viewer = require("reviewer")
st.title(tr("审核队列", "Review queue"))
st.caption(f"{viewer.unit_name or '—'} · {tier_name(viewer.tier) if viewer.tier else '—'}")

now = utcnow()
with database().read() as session:
    user = get_user(session, viewer.username)
    counts = queue_counts(session, user, now)
    categories = category_choices(session)

hours = int(DUE_SOON.total_seconds() // 3600)
for cell, (label, value) in zip(
    st.columns(5),
    [
        (tr("待审核", "To review"), counts.reviewing),
        (tr(f"即将超期（{hours}小时内）", f"Due within {hours} h"), counts.due_soon),
        (tr("已超期", "Overdue"), counts.overdue),
        (tr("待审批延期", "Extensions to decide"), counts.extensions),
        (tr("待核查", "To verify"), counts.to_verify),
    ],
    strict=True,
):
    cell.metric(label, value)

left, middle, right, search = st.columns(4)
state = any_of(left, tr("状态", "State"), {s.value: state_name(s.value) for s in QUEUE_STATES}, "queue_state")
category = any_of(
    middle,
    tr("类别", "Category"),
    {code: f"{code} {tr(name, name_en)}" for code, name, name_en in categories},
    "queue_category",
)
source = any_of(right, tr("来源", "Source"), {s.value: source_name(s.value) for s in Source}, "queue_source")
number_part = search.text_input(tr("案卷编号", "Case number"), key="queue_search", placeholder="LY-…")

with database().read() as session:
    rows = reviewer_queue(
        session, get_user(session, viewer.username), now, QueueFilter(state, category, source, number_part)
    )

if not rows:
    st.info(tr("队列中没有符合条件的案卷", "No case in the queue matches"))
    st.stop()

event = st.dataframe(table(rows), hide_index=True, on_select="rerun", selection_mode="single-row", key="queue_table")
selected = event.selection.rows if event is not None else []
if selected:
    open_case(rows[selected[0]].number)

pick, go = st.columns([3, 1], vertical_alignment="bottom")
number = pick.selectbox(
    tr("打开案卷", "Open a case"),
    [r.number for r in rows],
    key="queue_pick",
)
if go.button(tr("打开", "Open"), key="queue_open", type="primary") and number:
    open_case(number)
