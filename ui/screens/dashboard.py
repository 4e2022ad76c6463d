"""Statistics (统计分析): the leader's first page, also open to reviewers (their unit only) and admins.

Every figure comes from models.stats, limited to the viewer's unit scope (models.scope.scope_path). Figures are
cached for a minute per database, scope, period and instant (`as_of` is the current minute), so switching a
tab's options does not recompute the others. The weekly bulletin is built on request, XLSX or PDF.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from integrations.bulletin import Progress, bulletin_name, week_of, weekly_bulletin, weekly_bulletin_pdf
from models.commands import get_user
from models.db import utcnow
from models.scope import scope_path
from models.stats import (
    GRAINS,
    PLACE_LEVELS,
    RANK_METRICS,
    local_today,
    open_case_points,
    period_range,
    ranking,
    statistics,
    trend,
)
from ui.i18n import state_name, tr
from ui.session import database, require, settings
from ui.widgets import offline_map, township_labels

LEVEL_NAMES = {
    "district": ("区县", "District"),
    "township": ("乡镇/街道", "Township"),
    "village": ("村/社区", "Village"),
}
GRAIN_NAMES = {"day": ("按日", "Daily"), "week": ("按周", "Weekly"), "month": ("按月", "Monthly")}
METRIC_NAMES = {
    "closure_rate": ("结案率", "Closure rate"),
    "on_time_closure_rate": ("按期结案率", "On-time closure rate"),
    "overdue": ("超期案卷（少者为优）", "Overdue (fewer is better)"),
}
PERIOD_NAMES = {
    "week": ("本周", "This week"),
    "month": ("本月", "This month"),
    "year": ("本年", "This year"),
    "custom": ("自定义", "Custom"),
}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def labels(names: dict[str, tuple[str, str]]) -> Any:
    """A format_func for options named in both languages. The language is chosen now, during the run: a
    format_func may also be called outside the run (AppTest does), where the viewer's language is unknown."""
    chosen = {key: tr(*pair) for key, pair in names.items()}
    return chosen.__getitem__


@st.cache_data(ttl=60, show_spinner=False)
def figures(url: str, path: str | None, start: date, end: date, as_of: datetime, by: str | None) -> dict[str, Any]:
    with database().read() as session:
        return statistics(session, date_from=start, date_to=end, by=by, as_of=as_of, unit_path=path)


@st.cache_data(ttl=60, show_spinner=False)
def trend_rows(url: str, path: str | None, start: date, end: date, as_of: datetime, grain: str) -> list[dict]:
    with database().read() as session:
        return trend(session, grain, date_from=start, date_to=end, as_of=as_of, unit_path=path)


@st.cache_data(ttl=60, show_spinner=False)
def map_layers(url: str, path: str | None, as_of: datetime) -> tuple[list[dict], list[dict]]:
    with database().read() as session:
        return open_case_points(session, unit_path=path, as_of=as_of), township_labels(session, path)


def rate_table(rows: list[dict[str, Any]], first: str, with_rank: bool = False) -> pd.DataFrame:
    """One row per place, category or unit with the same columns the bulletin has; rates in percent."""

    def percent(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 1)

    columns: dict[str, list[Any]] = {}
    if with_rank:
        columns[tr("名次", "Rank")] = [r["rank"] for r in rows]
    columns[first] = [
        tr(r["name"] or tr("（未细分）", "(not below)"), r.get("name_en") or r["name"] or "—") for r in rows
    ]
    columns[tr("案卷数", "Cases")] = [r["counts"]["total"] for r in rows]
    columns[tr("应结案", "Due")] = [r["counts"]["due"] for r in rows]
    columns[tr("已结案", "Closed")] = [r["counts"]["closed"] for r in rows]
    columns[tr("结案率 %", "Closure %")] = [percent(r["closure_rate"]) for r in rows]
    columns[tr("按期结案率 %", "On-time %")] = [percent(r["on_time_closure_rate"]) for r in rows]
    columns[tr("平均处置时长（小时）", "Avg handling (h)")] = [r["avg_handling_hours"] for r in rows]
    columns[tr("超期", "Overdue")] = [r["overdue"] for r in rows]
    columns[tr("返工", "Rework")] = [r["rework"] for r in rows]
    return pd.DataFrame(columns)


def pick_period(today: date) -> tuple[date, date]:
    choice = st.radio(
        tr("时段", "Period"),
        list(PERIOD_NAMES),
        index=1,
        key="dash_period",
        horizontal=True,
        format_func=labels(PERIOD_NAMES),
    )
    if choice != "custom":
        return period_range(choice, today)
    chosen = st.date_input(
        tr("起止日期（北京时间）", "From and to (Asia/Shanghai)"),
        value=(today.replace(day=1), today),
        key="dash_dates",
    )
    days = list(chosen) if isinstance(chosen, tuple | list) else [chosen]
    return days[0], days[-1]


def headline(overall: dict[str, Any]) -> None:
    hours = overall["avg_handling_hours"]
    cells = st.columns(6)
    for cell, (label, value) in zip(
        cells,
        (
            (tr("结案率", "Closure rate"), pct(overall["closure_rate"])),
            (tr("按期结案率", "On-time closure rate"), pct(overall["on_time_closure_rate"])),
            (
                tr("平均处置时长", "Avg handling time"),
                "—" if hours is None else tr(f"{hours:.1f} 小时", f"{hours:.1f} h"),
            ),
            (tr("超期", "Overdue"), overall["overdue"]),
            (tr("返工", "Rework"), overall["rework"]),
            (tr("案卷总数", "Cases"), overall["counts"]["total"]),
        ),
        strict=True,
    ):
        cell.metric(label, value)


def trend_charts(rows: list[dict[str, Any]]) -> None:
    if not rows:
        st.info(tr("该时段没有案卷", "No cases in this period"))
        return
    frame = pd.DataFrame(rows)
    frame["period"] = frame["period"].astype(str)
    counts = frame.melt(id_vars="period", value_vars=["opened", "closed"], var_name="series", value_name="n")
    counts["series"] = counts["series"].map({"opened": tr("新增案卷", "Opened"), "closed": tr("结案", "Closed")})
    period_axis = alt.X("period:O", title=tr("时段", "Period"))
    volume = (
        alt.Chart(counts)
        .mark_line(point=True)
        .encode(
            x=period_axis,
            y=alt.Y("n:Q", title=tr("案卷数", "Cases")),
            color=alt.Color("series:N", title=""),
            tooltip=["period:O", "series:N", "n:Q"],
        )
        .properties(height=260)
    )
    st.altair_chart(volume, key="dash_trend_volume", width="stretch")
    rates = frame.melt(
        id_vars="period", value_vars=["closure_rate", "on_time_closure_rate"], var_name="series", value_name="rate"
    ).dropna()
    rates["series"] = rates["series"].map(
        {"closure_rate": tr("结案率", "Closure rate"), "on_time_closure_rate": tr("按期结案率", "On-time rate")}
    )
    rate_chart = (
        alt.Chart(rates)
        .mark_line(point=True)
        .encode(
            x=period_axis,
            y=alt.Y("rate:Q", title=tr("比率", "Rate"), axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("series:N", title=""),
            tooltip=["period:O", "series:N", alt.Tooltip("rate:Q", format=".1%")],
        )
        .properties(height=220)
    )
    st.altair_chart(rate_chart, key="dash_trend_rate", width="stretch")


def top_and_bottom(rows: list[dict[str, Any]], metric: str, first: str, key: str) -> None:
    ranked = ranking(rows, metric)
    best, worst = st.columns(2)
    with best:
        st.markdown(tr("**前五名**", "**Top five**"))
        st.dataframe(rate_table(ranked["top"], first, True), hide_index=True, key=f"{key}_top")
    with worst:
        st.markdown(tr("**后五名**", "**Bottom five**"))
        st.dataframe(rate_table(ranked["bottom"], first, True), hide_index=True, key=f"{key}_bottom")


def progress_to(bar: Any) -> Progress:
    return lambda fraction, step: bar.progress(fraction, text=step)


def bulletin_export(path: str | None, scope_name: str | None, today: date) -> None:
    """Build the chosen week's bulletin on request (inside st.status with progress), then offer it."""
    this_monday, _ = week_of(today)
    mondays = [this_monday - timedelta(weeks=n) for n in range(9)]
    monday = st.selectbox(
        tr("周次", "Week"),
        mondays,
        index=1,
        key="dash_week",
        format_func=lambda m: (
            f"{m.isocalendar().year}-W{m.isocalendar().week:02d}（{m:%m-%d} — {m + timedelta(days=6):%m-%d}）"
        ),
    )
    made: dict[str, tuple[str, bytes]] = st.session_state.setdefault("dash_bulletins", {})
    writers = {"xlsx": ("Excel", weekly_bulletin), "pdf": ("PDF", weekly_bulletin_pdf)}
    buttons = st.columns(len(writers))
    for cell, (kind, (label, writer)) in zip(buttons, writers.items(), strict=True):
        with cell:
            if st.button(tr(f"生成 {label} 周报", f"Make the {label} bulletin"), key=f"dash_make_{kind}"):
                with st.status(tr("正在生成周报…", "Making the bulletin…"), expanded=True) as status:
                    bar = st.progress(0.0, text=tr("开始", "starting"))
                    with tempfile.TemporaryDirectory() as folder:
                        out = Path(folder) / bulletin_name(monday, kind)
                        writer(
                            database(),
                            monday,
                            out,
                            unit_path=path,
                            scope_name=scope_name,
                            progress=progress_to(bar),
                        )
                        made[kind] = (out.name, out.read_bytes())
                    status.update(label=tr("周报已生成", "Bulletin ready"), state="complete")
            if kind in made:
                name, data = made[kind]
                st.download_button(
                    tr(f"下载 {name}", f"Download {name}"),
                    data,
                    file_name=name,
                    mime="application/pdf"
                    if kind == "pdf"
                    else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    key=f"dash_download_{kind}",
                )


viewer = require("leader", "reviewer", "admin")
st.title(tr("统计分析", "Statistics"))
with database().read() as session:
    scope = scope_path(get_user(session, viewer.username))
st.caption(
    tr(f"范围：{viewer.unit_name or '全市'}", f"Scope: {viewer.unit_name or 'whole city'}")
    + tr("；日期按北京时间", "; days in Asia/Shanghai time")
)

url = settings().database_url
now = utcnow()
as_of = now.replace(second=0, microsecond=0)
today = local_today(now)
start, end = pick_period(today)
if start > end:
    st.error(tr("起始日期晚于结束日期", "The start date is after the end date"))
    st.stop()
st.caption(f"{start:%Y-%m-%d} — {end:%Y-%m-%d}")
overall = figures(url, scope, start, end, as_of, None)
headline(overall)

places_tab, category_tab, ranking_tab, trend_tab, map_tab, bulletin_tab = st.tabs(
    [
        tr("按区划", "By place"),
        tr("按类别", "By category"),
        tr("排名", "Rankings"),
        tr("趋势", "Trends"),
        tr("地图", "Map"),
        tr("周报导出", "Weekly bulletin"),
    ]
)
with places_tab:
    level = st.radio(
        tr("层级", "Level"),
        PLACE_LEVELS,
        index=1,
        key="dash_level",
        horizontal=True,
        format_func=labels(LEVEL_NAMES),
    )
    rows = figures(url, scope, start, end, as_of, level)["by"]
    st.dataframe(rate_table(rows, tr(*LEVEL_NAMES[level])), hide_index=True, key="dash_places")
with category_tab:
    rows = figures(url, scope, start, end, as_of, "category")["by"]
    st.dataframe(rate_table(rows, tr("问题类别", "Category")), hide_index=True, key="dash_categories")
with ranking_tab:
    metric = st.radio(
        tr("排名指标", "Rank by"),
        RANK_METRICS,
        key="dash_rank_metric",
        horizontal=True,
        format_func=labels(METRIC_NAMES),
    )
    st.subheader(tr("乡镇/街道", "Townships"))
    townships = [r for r in figures(url, scope, start, end, as_of, "township")["by"] if r["key"]]
    top_and_bottom(townships, metric, tr("乡镇/街道", "Township"), "dash_rank_townships")
    st.subheader(tr("责任单位", "Responsible units"))
    units = [r for r in figures(url, scope, start, end, as_of, "unit")["by"] if r["key"] != "-"]
    top_and_bottom(units, metric, tr("责任单位", "Unit"), "dash_rank_units")
with trend_tab:
    grain = st.radio(
        tr("粒度", "Grain"),
        GRAINS,
        index=2 if (end - start).days > 62 else 0,
        key="dash_grain",
        horizontal=True,
        format_func=labels(GRAIN_NAMES),
    )
    trend_charts(trend_rows(url, scope, start, end, as_of, grain))
with map_tab:
    points, places = map_layers(url, scope, as_of)
    st.caption(
        tr(
            f"当前未结案卷 {len(points)} 件（超期优先，最多 5000 件；不随时段变化）",
            f"{len(points)} open cases now (overdue first, at most 5,000; not limited to the period)",
        )
    )
    chart = offline_map(
        [
            {
                "lat": p["lat"],
                "lon": p["lon"],
                "label": f"{p['number']} · {p['category']}",
                "group": tr("超期", "overdue") if p["overdue"] else state_name(p["state"]),
            }
            for p in points
        ],
        places,
    )
    if chart is None:
        st.info(tr("没有未结案卷", "No open cases"))
    else:
        st.altair_chart(chart, key="dash_map", width="stretch")
with bulletin_tab:
    bulletin_export(scope, viewer.unit_name if scope else None, today)
