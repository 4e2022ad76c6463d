"""Categories (问题类别): the GB/T 30428-style taxonomy — components (部件, C…) and events (事件, E…) — added,
renamed, and switched off or on. Codes never change, since cases and routing rules refer to them."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select

from models import admin
from models.taxonomy import Category
from ui.admin import all_or, changed, choose, matches, run, table, text_filter
from ui.i18n import tr
from ui.session import database, require

KINDS = {"component": ("部件", "component"), "event": ("事件", "event")}

viewer = require("admin")
st.title(tr("问题类别", "Categories"))

with database().read() as session:
    categories = session.execute(select(Category).order_by(Category.code)).scalars().all()
    labels = {c.code: f"{c.code} {c.name}" + ("" if c.active else tr("（停用）", " (off)")) for c in categories}
    listed = [(c.code, c.name, c.name_en, c.kind, c.major_name, c.active) for c in categories]

left, middle, right = st.columns([2, 1, 1])
with left:
    needle = text_filter("查找类别", "Find a category", "cat_filter")
with middle:
    kind = choose(tr("部件/事件", "Kind"), all_or({k: tr(*names) for k, names in KINDS.items()}), "cat_kind")
with right:
    status = choose(
        tr("状态", "Status"), all_or({"active": tr("在用", "active"), "inactive": tr("停用", "off")}), "cat_status"
    )
rows = [
    {
        tr("代码", "Code"): code,
        tr("名称", "Name"): name,
        tr("英文名", "English name"): name_en,
        tr("部件/事件", "Kind"): tr(*KINDS.get(cat_kind, (cat_kind, cat_kind))),
        tr("大类", "Major class"): major,
        tr("状态", "Status"): tr("在用", "active") if active else tr("停用", "off"),
    }
    for code, name, name_en, cat_kind, major, active in listed
    if (not kind or cat_kind == kind)
    and (not status or active == (status == "active"))
    and matches(needle, code, name, name_en)
]
table(rows, "cat_table")

add_col, edit_col = st.columns(2)
with add_col, st.form("cat_add"):
    st.subheader(tr("新增类别", "Add a category"))
    code = st.text_input(tr("代码（如 E0207）", "Code (e.g. E0207)"), key="cat_add_code")
    name = st.text_input(tr("名称", "Name"), key="cat_add_name")
    name_en = st.text_input(tr("英文名", "English name"), key="cat_add_name_en")
    major = st.text_input(
        tr("大类名称（新大类时必填）", "Major class name (for a new major class)"), key="cat_add_major"
    )
    if st.form_submit_button(tr("新增", "Add"), key="cat_add_submit", type="primary"):
        run(
            lambda s: admin.add_category(s, viewer.username, code=code, name=name, name_en=name_en, major_name=major),
            tr(f"已新增类别 {code.strip().upper()}", f"Category {code.strip().upper()} added"),
        )
with edit_col, st.form("cat_edit"):
    st.subheader(tr("修改名称", "Rename"))
    target = choose(tr("类别", "Category"), labels, "cat_edit_code")
    e_name = st.text_input(tr("新名称（留空不变）", "New name (blank: unchanged)"), key="cat_edit_name")
    e_en = st.text_input(tr("新英文名（留空不变）", "New English name (blank: unchanged)"), key="cat_edit_name_en")
    e_major = st.text_input(
        tr("新大类名称（留空不变）", "New major class name (blank: unchanged)"), key="cat_edit_major"
    )
    if st.form_submit_button(tr("保存", "Save"), key="cat_edit_submit"):
        values = changed(name=e_name.strip() or None, name_en=e_en.strip() or None, major_name=e_major.strip() or None)
        run(
            lambda s: admin.edit_category(s, viewer.username, target, values), tr(f"已保存 {target}", f"{target} saved")
        )

st.subheader(tr("停用或启用", "Switch off or on"))
st.caption(
    tr(
        "停用的类别不再供巡查和导入选用，已有案卷不受影响。",
        "A category switched off is no longer offered to patrols or accepted from imports; existing cases keep it.",
    )
)
pick = choose(tr("类别", "Category"), labels, "cat_pick")
off, on = st.columns(2)
if off.button(tr("停用", "Switch off"), key="cat_deactivate"):
    run(lambda s: admin.set_category_active(s, viewer.username, pick, False), tr(f"已停用 {pick}", f"{pick} off"))
if on.button(tr("启用", "Switch on"), key="cat_activate"):
    run(lambda s: admin.set_category_active(s, viewer.username, pick, True), tr(f"已启用 {pick}", f"{pick} on"))
