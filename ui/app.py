"""Streamlit console entry (`xueliang ui`). Until the console issue lands this is a read-only overview: the case
queue and the headline statistics, read through the same models/ views as the CLI."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models.cases import Case
from models.db import Database
from models.settings import Settings
from models.stats import statistics
from models.views import case_view

TEXT = {
    "zh": {
        "title": "雪亮 · 案卷总览",
        "cases": "最新案卷",
        "closure": "结案率",
        "ontime": "按期结案率",
        "overdue": "超期",
        "total": "案卷总数",
        "empty": "暂无案卷",
    },
    "en": {
        "title": "Xueliang · overview",
        "cases": "Latest cases",
        "closure": "Closure rate",
        "ontime": "On-time closure rate",
        "overdue": "Overdue",
        "total": "Cases",
        "empty": "No cases yet",
    },
}


@st.cache_resource
def database(url: str) -> Database:
    return Database(url)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


st.set_page_config(page_title="雪亮 Xueliang", layout="wide")
lang = st.sidebar.radio("语言 / Language", ["zh", "en"], format_func=lambda v: "中文" if v == "zh" else "English")
t = TEXT[lang]
st.title(t["title"])
with database(Settings.load().database_url).read() as session:
    figures = statistics(session)
    cases = [
        case_view(c)
        for c in session.execute(
            select(Case).options(joinedload(Case.category), joinedload(Case.unit)).order_by(Case.id.desc()).limit(50)
        ).scalars()
    ]
cols = st.columns(4)
cols[0].metric(t["total"], figures["counts"]["total"])
cols[1].metric(t["closure"], pct(figures["closure_rate"]))
cols[2].metric(t["ontime"], pct(figures["on_time_closure_rate"]))
cols[3].metric(t["overdue"], figures["overdue"])
st.subheader(t["cases"])
if cases:
    st.dataframe(
        [{k: c[k] for k in ("number", "state", "tier", "category_name", "unit_name", "created_at")} for c in cases],
        width="stretch",
    )
else:
    st.info(t["empty"])
