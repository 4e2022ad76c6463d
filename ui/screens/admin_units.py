"""Units (行政区划与责任单位): the administrative tree, and the responsible units with their SMS contacts (numbers
shown masked only; new numbers are sealed by the PhoneVault before they reach the database)."""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from integrations.secrets import PhoneVault
from models import admin
from models.org import AdminUnit, ResponsibleUnit
from ui.admin import admin_units, changed, choose, filter_bar, keep_or, matches, responsible_units, run, table
from ui.i18n import tr
from ui.session import database, require, settings

LEVELS = {
    "city": ("市", "city"),
    "district": ("区/县", "district"),
    "township": ("乡镇/街道", "township"),
    "village": ("村/社区", "village"),
    "grid": ("网格", "grid"),
}


def level_name(level: str) -> str:
    return tr(*LEVELS.get(level, (level, level)))


def kind_name(kind: str) -> str:
    return tr(*admin.UNIT_KINDS.get(kind, (kind, kind)))


viewer = require("admin")
st.title(tr("行政区划与责任单位", "Units"))
level_labels = {level: level_name(level) for level in LEVELS}
kind_labels = {kind: kind_name(kind) for kind in admin.UNIT_KINDS}

with database().read() as session:
    units = session.execute(select(AdminUnit).order_by(AdminUnit.path)).scalars().all()
    runits = (
        session.execute(
            select(ResponsibleUnit)
            .options(selectinload(ResponsibleUnit.contacts), selectinload(ResponsibleUnit.area))
            .order_by(ResponsibleUnit.code)
        )
        .scalars()
        .all()
    )
    unit_labels = admin_units(session)
    runit_labels = responsible_units(session)
    codes = {u.id: u.code for u in units}
    tree = [
        {
            tr("名称", "Name"): "　" * (u.path.count("/") - 2) + u.name,
            tr("代码", "Code"): u.code,
            tr("层级", "Level"): level_name(u.level),
            tr("上级", "Parent"): codes.get(u.parent_id, "") if u.parent_id else "",
            tr("纬度", "Lat"): u.lat,
            tr("经度", "Lon"): u.lon,
            "_level": u.level,
            "_en": u.name_en,
        }
        for u in units
    ]
    responsible = [
        {
            tr("代码", "Code"): r.code,
            tr("名称", "Name"): r.name,
            tr("类型", "Kind"): kind_name(r.kind),
            tr("辖区", "Area"): r.area.name,
            tr("短信联系人", "SMS contacts"): "；".join(
                f"{c.priority}. {c.name} {c.phone_masked}" + ("" if c.active else tr("（停用）", " (off)"))
                for c in r.contacts
            ),
        }
        for r in runits
    ]
    contacts_by_unit: dict[str, list[dict[str, Any]]] = {
        r.code: [
            {"id": c.id, "priority": c.priority, "name": c.name, "phone": c.phone_masked, "active": c.active}
            for c in r.contacts
        ]
        for r in runits
    }

tree_tab, runit_tab = st.tabs([tr("行政区划", "Administrative tree"), tr("责任单位", "Responsible units")])

with tree_tab:
    needle, level = filter_bar(
        ("查找区划", "Find a unit"), "units_filter", tr("层级", "Level"), level_labels, "units_level"
    )
    shown = [
        {k: v for k, v in row.items() if not k.startswith("_")}
        for row in tree
        if (not level or row["_level"] == level)
        and matches(needle, row[tr("名称", "Name")], row[tr("代码", "Code")], row["_en"])
    ]
    st.caption(tr(f"共 {len(shown)} 个区划", f"{len(shown)} units"))
    table(shown, "units_table")

    add_col, edit_col = st.columns(2)
    with add_col, st.form("unit_add"):
        st.subheader(tr("新增区划", "Add a unit"))
        code = st.text_input(tr("区划代码", "Code"), key="unit_add_code")
        name = st.text_input(tr("名称", "Name"), key="unit_add_name")
        name_en = st.text_input(tr("英文名", "English name"), key="unit_add_name_en")
        new_level = choose(
            tr("层级", "Level"), {k: v for k, v in level_labels.items() if k != "city"}, "unit_add_level"
        )
        parent = choose(tr("上级区划", "Parent"), unit_labels, "unit_add_parent")
        lat = st.number_input(tr("中心纬度", "Centre latitude"), value=None, format="%.6f", key="unit_add_lat")
        lon = st.number_input(tr("中心经度", "Centre longitude"), value=None, format="%.6f", key="unit_add_lon")
        if st.form_submit_button(tr("新增", "Add"), key="unit_add_submit", type="primary"):
            run(
                lambda s: admin.add_admin_unit(
                    s,
                    viewer.username,
                    code=code,
                    name=name,
                    level=new_level,
                    parent_code=parent,
                    name_en=name_en,
                    lat=lat,
                    lon=lon,
                ),
                tr(f"已新增区划 {code}", f"Unit {code} added"),
            )
    with edit_col, st.form("unit_edit"):
        st.subheader(tr("修改名称或中心点", "Rename or move the centre"))
        target = choose(tr("区划", "Unit"), unit_labels, "unit_edit_code")
        new_name = st.text_input(tr("新名称（留空不变）", "New name (blank: unchanged)"), key="unit_edit_name")
        new_en = st.text_input(tr("新英文名（留空不变）", "New English name (blank: unchanged)"), key="unit_edit_en")
        new_lat = st.number_input(tr("新纬度", "New latitude"), value=None, format="%.6f", key="unit_edit_lat")
        new_lon = st.number_input(tr("新经度", "New longitude"), value=None, format="%.6f", key="unit_edit_lon")
        if st.form_submit_button(tr("保存", "Save"), key="unit_edit_submit"):
            values = changed(name=new_name.strip() or None, name_en=new_en.strip() or None, lat=new_lat, lon=new_lon)
            run(
                lambda s: admin.edit_admin_unit(s, viewer.username, target, values),
                tr(f"已保存区划 {target}", f"Unit {target} saved"),
            )

with runit_tab:
    needle, kind = filter_bar(
        ("查找责任单位", "Find a responsible unit"), "runits_filter", tr("类型", "Kind"), kind_labels, "runits_kind"
    )
    shown = [
        row
        for row, unit in zip(responsible, runits, strict=True)
        if (not kind or unit.kind == kind) and matches(needle, unit.name, unit.code)
    ]
    table(shown, "runits_table")

    add_col, edit_col = st.columns(2)
    with add_col, st.form("runit_add"):
        st.subheader(tr("新增责任单位", "Add a responsible unit"))
        r_code = st.text_input(tr("单位代码", "Code"), key="runit_add_code")
        r_name = st.text_input(tr("名称", "Name"), key="runit_add_name")
        r_kind = choose(tr("类型", "Kind"), kind_labels, "runit_add_kind")
        r_area = choose(tr("辖区", "Area"), unit_labels, "runit_add_area")
        if st.form_submit_button(tr("新增", "Add"), key="runit_add_submit", type="primary"):
            run(
                lambda s: admin.add_responsible_unit(
                    s, viewer.username, code=r_code, name=r_name, kind=r_kind, area_code=r_area
                ),
                tr(f"已新增责任单位 {r_code}", f"Responsible unit {r_code} added"),
            )
    with edit_col, st.form("runit_edit"):
        st.subheader(tr("修改责任单位", "Edit a responsible unit"))
        e_code = choose(tr("责任单位", "Unit"), runit_labels, "runit_edit_code")
        e_name = st.text_input(tr("新名称（留空不变）", "New name (blank: unchanged)"), key="runit_edit_name")
        e_kind = choose(tr("类型", "Kind"), keep_or(kind_labels), "runit_edit_kind")
        e_area = choose(tr("辖区", "Area"), keep_or(unit_labels), "runit_edit_area")
        if st.form_submit_button(tr("保存", "Save"), key="runit_edit_submit"):
            values = changed(name=e_name.strip() or None, kind=e_kind, area=e_area)
            run(
                lambda s: admin.edit_responsible_unit(s, viewer.username, e_code, values),
                tr(f"已保存责任单位 {e_code}", f"Responsible unit {e_code} saved"),
            )

    st.subheader(tr("短信联系人", "SMS contacts"))
    c_unit = choose(tr("责任单位", "Unit"), runit_labels, "contact_unit")
    contacts = contacts_by_unit.get(c_unit, [])
    table(
        [
            {
                tr("优先级", "Priority"): c["priority"],
                tr("联系人", "Contact"): c["name"],
                tr("号码", "Number"): c["phone"],
                tr("状态", "Status"): tr("在用", "active") if c["active"] else tr("停用", "off"),
            }
            for c in contacts
        ],
        "contacts_table",
    )
    with st.form("contact_add"):
        c_name = st.text_input(tr("联系人", "Contact name"), key="contact_add_name")
        c_phone = st.text_input(tr("手机号码", "Mobile number"), key="contact_add_phone")
        c_priority = st.number_input(
            tr("优先级（留空排在最后）", "Priority (blank: last)"), min_value=1, value=None, key="contact_add_priority"
        )
        if st.form_submit_button(tr("添加联系人", "Add contact"), key="contact_add_submit", type="primary"):
            vault = PhoneVault.from_settings(settings())
            run(
                lambda s: admin.add_contact(
                    s,
                    viewer.username,
                    c_unit,
                    name=c_name,
                    phone=c_phone,
                    sealer=vault,
                    priority=int(c_priority) if c_priority is not None else None,
                ),
                tr("已添加联系人", "Contact added"),
            )
    if contacts:
        labels = {c["id"]: f"{c['priority']}. {c['name']} {c['phone']}" for c in contacts}
        contact_id = choose(tr("联系人", "Contact"), labels, "contact_pick")
        off, on = st.columns(2)
        if off.button(tr("停用联系人", "Deactivate contact"), key="contact_deactivate"):
            run(
                lambda s: admin.set_contact_active(s, viewer.username, contact_id, False),
                tr("已停用联系人", "Contact deactivated"),
            )
        if on.button(tr("恢复联系人", "Reactivate contact"), key="contact_activate"):
            run(
                lambda s: admin.set_contact_active(s, viewer.username, contact_id, True),
                tr("已恢复联系人", "Contact reactivated"),
            )
