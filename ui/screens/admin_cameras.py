"""Cameras (摄像机): the registered cameras by township, adding and editing them, and the camera sources (devices or
NVRs that post alarms) with their credentials. A new or rotated token is shown once, right after it is made; only
its digest is stored."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from integrations.secrets import hash_password, token_digest
from models import admin
from models.org import CAMERA_KINDS, AdminUnit, Camera, CameraSource, Level
from ui.admin import (
    admin_units,
    all_or,
    changed,
    choose,
    end_of_day,
    keep_or,
    matches,
    run,
    show_secret,
    table,
    text_filter,
)
from ui.i18n import local_time, tr
from ui.session import database, require

KIND_EN = {"public_road": "public road", "residential": "home watch", "checkpoint": "checkpoint"}
KIND_EN["high_altitude"] = "high altitude"


def kind_name(kind: str) -> str:
    return tr(CAMERA_KINDS.get(kind, kind), KIND_EN.get(kind, kind))


viewer = require("admin")
st.title(tr("摄像机", "Cameras"))
kind_labels = {kind: kind_name(kind) for kind in CAMERA_KINDS}
show_secret()

with database().read() as session:
    townships = {
        u.path: u.name
        for u in session.execute(
            select(AdminUnit).where(AdminUnit.level == Level.TOWNSHIP.value).order_by(AdminUnit.path)
        ).scalars()
    }
    unit_labels = admin_units(session)
    sources = session.execute(select(CameraSource).order_by(CameraSource.name)).scalars().all()
    per_source = dict(
        session.execute(select(Camera.source_id, func.count()).group_by(Camera.source_id)).all()  # type: ignore[arg-type]
    )
    source_rows = [
        {
            tr("接入源", "Source"): s.name,
            tr("令牌", "Token"): tr("已设置", "set") if s.token_digest else tr("未设置", "none"),
            tr("Basic 用户名", "Basic username"): s.basic_username or "",
            tr("摄像机数", "Cameras"): per_source.get(s.id, 0),
        }
        for s in sources
    ]
    source_labels = {s.name: s.name for s in sources}

    township = choose(tr("乡镇/街道", "Township"), all_or(townships), "cam_township")
    needle = text_filter("查找摄像机", "Find a camera", "cam_filter")
    stmt = (
        select(Camera)
        .join(AdminUnit, Camera.unit_id == AdminUnit.id)
        .options(selectinload(Camera.unit), selectinload(Camera.source))
        .order_by(AdminUnit.path, Camera.id)
    )
    if township:
        stmt = stmt.where(AdminUnit.path.startswith(township))
    cameras = [
        c for c in session.execute(stmt).scalars() if matches(needle, c.name, c.external_id, c.unit.name, str(c.id))
    ]
    rows = [
        {
            "ID": c.id,
            tr("名称", "Name"): c.name,
            tr("厂商/协议", "Vendor"): c.vendor,
            tr("设备编号", "External id"): c.external_id,
            tr("点位类型", "Kind"): kind_name(c.kind),
            tr("所在区划", "Unit"): c.unit.name,
            tr("纬度", "Lat"): c.lat,
            tr("经度", "Lon"): c.lon,
            tr("接入源", "Source"): c.source.name if c.source else "",
            tr("维护至", "Maintenance until"): local_time(c.maintenance_until) if c.maintenance_until else "",
            tr("快照地址", "Snapshot URL"): c.snapshot_url or "",
        }
        for c in cameras
    ]
    camera_labels = {c.id: f"{c.id} · {c.name}" for c in cameras}

st.caption(tr(f"共 {len(rows)} 台摄像机", f"{len(rows)} cameras"))
table(rows, "cam_table")

add_col, edit_col = st.columns(2)
with add_col, st.form("cam_add"):
    st.subheader(tr("登记摄像机", "Register a camera"))
    vendor = choose(tr("厂商/协议", "Vendor"), {v: v for v in admin.VENDORS}, "cam_add_vendor")
    external_id = st.text_input(
        tr("设备编号（海康/大华 序列号:通道，国标 20 位编号）", "External id (serial:channel, or 20-digit GB id)"),
        key="cam_add_external_id",
    )
    name = st.text_input(tr("名称", "Name"), key="cam_add_name")
    kind = choose(tr("点位类型", "Kind"), kind_labels, "cam_add_kind")
    unit = choose(tr("所在区划", "Unit"), unit_labels, "cam_add_unit")
    lat = st.number_input(tr("纬度", "Latitude"), value=None, format="%.6f", key="cam_add_lat")
    lon = st.number_input(tr("经度", "Longitude"), value=None, format="%.6f", key="cam_add_lon")
    snapshot = st.text_input(tr("快照地址", "Snapshot URL"), key="cam_add_snapshot")
    maintenance = st.date_input(
        tr("维护至（可空）", "Under maintenance until (optional)"), value=None, key="cam_add_maint"
    )
    source = choose(tr("接入源", "Source"), {"": tr("无", "none"), **source_labels}, "cam_add_source")
    if st.form_submit_button(tr("登记", "Register"), key="cam_add_submit", type="primary"):
        values = {"name": name, "kind": kind, "unit": unit, "lat": lat, "lon": lon, "snapshot_url": snapshot}
        values |= {"maintenance_until": end_of_day(maintenance), "source": source or None}
        run(
            lambda s: admin.add_camera(s, viewer.username, vendor=vendor, external_id=external_id, values=values),
            tr(f"已登记摄像机 {name}", f"Camera {name} registered"),
        )

with edit_col, st.form("cam_edit"):
    st.subheader(tr("修改摄像机", "Edit a camera"))
    if not camera_labels:
        st.caption(tr("上面的筛选没有摄像机", "The filter above shows no camera"))
    camera_id = choose(tr("摄像机（上表中的）", "Camera (of the table above)"), camera_labels, "cam_edit_id")
    e_name = st.text_input(tr("新名称（留空不变）", "New name (blank: unchanged)"), key="cam_edit_name")
    e_kind = choose(tr("点位类型", "Kind"), keep_or(kind_labels), "cam_edit_kind")
    e_unit = choose(tr("所在区划", "Unit"), keep_or(unit_labels), "cam_edit_unit")
    e_lat = st.number_input(tr("新纬度", "New latitude"), value=None, format="%.6f", key="cam_edit_lat")
    e_lon = st.number_input(tr("新经度", "New longitude"), value=None, format="%.6f", key="cam_edit_lon")
    e_external = st.text_input(tr("新设备编号（留空不变）", "New external id (blank: unchanged)"), key="cam_edit_ext")
    e_snapshot = st.text_input(tr("新快照地址（留空不变）", "New snapshot URL (blank: unchanged)"), key="cam_edit_snap")
    e_maintenance = st.date_input(tr("维护至", "Under maintenance until"), value=None, key="cam_edit_maint")
    e_clear = st.checkbox(tr("结束维护", "End maintenance"), key="cam_edit_clear_maint")
    e_source = choose(tr("接入源", "Source"), keep_or({"-": tr("无", "none"), **source_labels}), "cam_edit_source")
    if st.form_submit_button(tr("保存", "Save"), key="cam_edit_submit") and camera_id is not None:
        values = changed(
            name=e_name.strip() or None,
            kind=e_kind,
            unit=e_unit,
            external_id=e_external.strip() or None,
            snapshot_url=e_snapshot.strip() or None,
            maintenance_until=end_of_day(e_maintenance),
        )
        if e_lat is not None or e_lon is not None:
            values |= {"lat": e_lat, "lon": e_lon}
        if e_clear:
            values["maintenance_until"] = None
        if e_source:
            values["source"] = None if e_source == "-" else e_source
        run(
            lambda s: admin.edit_camera(s, viewer.username, camera_id, values),
            tr(f"已保存摄像机 {camera_id}", f"Camera {camera_id} saved"),
        )

st.subheader(tr("接入源与凭据", "Camera sources and credentials"))
st.caption(
    tr(
        "设备以 Bearer 令牌、?token= 或 HTTP Basic 向网关推送告警。系统只保存凭据的摘要，新令牌只在生成后显示一次。",
        "Devices post alarms with a Bearer token, ?token= or HTTP Basic. Only digests are stored; a new token is "
        "shown once, right after it is made.",
    )
)
table(source_rows, "source_table")
new_col, rotate_col, basic_col = st.columns(3)
with new_col, st.form("source_add"):
    source_name = st.text_input(tr("新接入源名称", "New source name"), key="source_add_name")
    if st.form_submit_button(tr("新增接入源", "Add source"), key="source_add_submit"):
        run(
            lambda s: admin.add_source(s, viewer.username, source_name, token_digest),
            tr(f"已新增接入源 {source_name}", f"Source {source_name} added"),
            tr(f"{source_name} 的令牌", f"Token of {source_name}"),
        )
with rotate_col, st.form("source_rotate"):
    rotate = choose(tr("接入源", "Source"), source_labels, "source_rotate_name")
    if st.form_submit_button(tr("更换令牌", "Rotate token"), key="source_rotate_submit") and rotate:
        run(
            lambda s: admin.rotate_source_token(s, viewer.username, rotate, token_digest),
            tr(f"已更换 {rotate} 的令牌，旧令牌立即失效", f"Token of {rotate} rotated; the old one no longer works"),
            tr(f"{rotate} 的新令牌", f"New token of {rotate}"),
        )
with basic_col, st.form("source_basic"):
    basic_source = choose(tr("接入源", "Source"), source_labels, "source_basic_name")
    basic_user = st.text_input(tr("Basic 用户名", "Basic username"), key="source_basic_user")
    basic_password = st.text_input(
        tr("Basic 密码（留空则自动生成）", "Basic password (blank: generate one)"),
        type="password",
        key="source_basic_password",
    )
    if (
        st.form_submit_button(tr("设置 Basic 凭据", "Set Basic credentials"), key="source_basic_submit")
        and basic_source
    ):
        run(
            lambda s: admin.set_source_basic(
                s, viewer.username, basic_source, basic_user, basic_password or None, hash_password
            ),
            tr(f"已设置 {basic_source} 的 Basic 凭据", f"Basic credentials of {basic_source} set"),
            tr(f"{basic_source} 的 Basic 密码", f"Basic password of {basic_source}"),
        )
