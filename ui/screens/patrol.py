"""Video patrol (视频巡查): the inspector chooses a plan (or all cameras of a township), steps through its cameras
one at a time, looks at each one's latest picture and flags what is wrong with a box on the picture. A flag raises
a patrol case registered at the inspector's tier, with the boxed picture as its snapshot evidence.

The picture of a camera is, in this order: a frame fetched from its snapshot URL (an HTTP snapshot, an RTSP grab
or the last frame of a clip), the newest snapshot or keyframe of its cases, or a screenshot the inspector
uploads from the video platform. Looking at a camera records the view; the coverage (覆盖率) and findings
(发现问题数) counters of the patrol and of each township come from those views.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.video import EvidenceError, Limits, fetch, is_image, keyframes, probe, write_keyframes
from models.db import utcnow
from models.errors import DomainError, NotFound
from models.evidence import add_evidence
from models.patrol import (
    Box,
    area_plan,
    create_plan,
    finish_patrol,
    get_patrol,
    latest_picture,
    patrol_areas,
    patrol_counts,
    plan_cameras,
    raise_finding,
    record_view,
    scope_cameras,
    start_patrol,
    township_counts,
    unfinished_patrol,
    visible_plans,
)
from models.taxonomy import Category
from ui.i18n import LOCAL_TZ, error_text, local_time, tr
from ui.session import Viewer, database, perform, require, storage

PATROL, POSITION, SEEN, LAST_CASE = "patrol_id", "patrol_position", "patrol_seen", "patrol_last_case"
# a patrol looks at many cameras: a picture must come quickly or not at all
SNAPSHOT_LIMITS = Limits(
    max_bytes=200 * 1024**2, connect_timeout_s=5.0, download_timeout_s=20.0, open_timeout_s=8.0, rtsp_record_s=1.0
)


@dataclass(frozen=True)
class CameraRow:
    id: int
    name: str
    township: str
    snapshot_url: str | None


@dataclass(frozen=True)
class Picture:
    data: bytes
    source: str


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def snapshot_frame(url: str) -> tuple[bytes | None, str | None]:
    """The current picture behind a camera's snapshot URL as JPEG/PNG bytes, or the reason there is none. Kept a
    minute, so stepping back and forth does not fetch again."""
    with tempfile.TemporaryDirectory(prefix="xueliang-patrol-") as tmp:
        folder = Path(tmp)
        try:
            path = fetch(url, folder, SNAPSHOT_LIMITS)
            if not is_image(path):
                info = probe(path, SNAPSHOT_LIMITS)
                last = keyframes(path, info.duration_s, 0.0, 0.0, limits=SNAPSHOT_LIMITS)[-1:]
                path = write_keyframes(last, folder / "frame")[0]
            return path.read_bytes(), None
        except EvidenceError as exc:
            return None, str(exc)


def stored_picture(camera_id: int) -> Picture | None:
    """The newest snapshot or keyframe of the camera's cases (the blurred copy when there is one)."""
    with database().read() as session:
        item = latest_picture(session, camera_id)
        if item is None:
            return None
        uri, taken = item.redacted_uri or item.uri, item.captured_at or item.created_at
    assert uri is not None
    try:
        data = storage().read(uri)
    except (EvidenceError, OSError):
        return None
    return Picture(data, tr(f"案卷证据 · {local_time(taken)}", f"case evidence · {local_time(taken)}"))


def camera_picture(camera: CameraRow) -> Picture | None:
    if camera.snapshot_url:
        with st.spinner(tr("正在获取画面…", "Fetching the picture…")):
            data, error = snapshot_frame(camera.snapshot_url)
        if data is not None:
            return Picture(data, tr(f"实时画面 · {local_time(utcnow())}", f"live picture · {local_time(utcnow())}"))
        st.warning(tr(f"无法获取实时画面：{error}", f"Could not fetch the live picture: {error}"))
    picture = stored_picture(camera.id)
    if picture is not None:
        return picture
    st.info(
        tr(
            "暂无画面：请在视频平台查看该摄像机，截图后上传",
            "No picture: look at this camera on the video platform, then upload a screenshot",
        )
    )
    upload = st.file_uploader(
        tr("上传截图", "Upload a screenshot"), type=["jpg", "jpeg", "png", "webp"], key=f"patrol_upload_{camera.id}"
    )
    if upload is None:
        return None
    return Picture(upload.getvalue(), tr("巡查员上传的截图", "screenshot uploaded by the inspector"))


def boxed(data: bytes, box: Box) -> bytes:
    """The picture as JPEG with the box drawn in red just outside the boxed region (the region itself stays as it
    was, so verification can compare inside it)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    x, y, w, h = box.pixels(*image.size)
    line = max(2, round(max(image.size) / 200))
    ImageDraw.Draw(image).rectangle(
        (x - line, y - line, x + w + line - 1, y + h + line - 1), outline=(230, 30, 30), width=line
    )
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


# ------------------------------------------------------------------------------------------------ actions


def start(viewer: Viewer) -> None:
    choice = st.session_state["patrol_plan"]
    kind, value = choice.split(":", 1)

    def command(session: Session) -> int:
        plan_id = int(value) if kind == "plan" else area_plan(session, viewer.username, value).id
        return start_patrol(session, viewer.username, plan_id).id

    patrol_id = perform(command, success=tr("巡查已开始", "Patrol started"))
    if patrol_id is not None:
        resume(patrol_id)


def resume(patrol_id: int) -> None:
    st.session_state[PATROL], st.session_state[POSITION] = patrol_id, 0
    st.session_state.pop(LAST_CASE, None)


def new_plan(viewer: Viewer) -> None:
    name, cameras = st.session_state.get("plan_name", ""), st.session_state.get("plan_cameras", [])
    plan = perform(
        lambda session: create_plan(session, viewer.username, name, camera_ids=list(cameras)).id,
        success=tr("巡查计划已保存", "Patrol plan saved"),
    )
    if plan is not None:
        st.session_state["patrol_plan"] = f"plan:{plan}"


def step(by: int) -> None:
    st.session_state[POSITION] = st.session_state.get(POSITION, 0) + by


def finish(viewer: Viewer, patrol_id: int) -> None:
    if perform(lambda session: finish_patrol(session, patrol_id, viewer.username), tr("巡查已结束", "Patrol finished")):
        for key in (PATROL, POSITION, LAST_CASE):
            st.session_state.pop(key, None)


def flag(viewer: Viewer, patrol_id: int, camera: CameraRow, picture: bytes | None, box: Box | None) -> None:
    """Raise the finding; the boxed picture is stored first (by content, so a refused finding leaves at most an
    unreferenced file) and recorded as the case's snapshot in the same transaction as the case."""
    category = st.session_state["patrol_category"]
    note = (st.session_state.get("patrol_note") or "").strip()
    stored = None
    if picture is not None and box is not None:
        try:
            stored = storage().put(boxed(picture, box), ".jpg")
        except (EvidenceError, OSError, UnidentifiedImageError) as exc:
            st.session_state["_flash"] = (
                "error",
                tr(f"画面无法保存：{exc}", f"The picture could not be stored: {exc}"),
            )
            return

    def command(session: Session) -> str:
        description = note or session.execute(select(Category.name).where(Category.code == category)).scalar_one()
        case = raise_finding(
            session, patrol_id, camera.id, viewer.username, category_code=category, description=description, box=box
        )
        if stored is not None:
            add_evidence(
                session,
                case.number,
                kind="snapshot",
                uri=stored.uri,
                redacted_uri=None,
                sha256=stored.sha256,
                size=stored.size,
                source=f"patrol {patrol_id}: {camera.name}",
                captured_at=utcnow(),
                face_count=None,
                actor=viewer.username,
            )
        return case.number

    number = perform(command)
    if number is not None:
        st.session_state[LAST_CASE] = number
        st.session_state["patrol_note"] = ""


# ------------------------------------------------------------------------------------------------ sections


def choose(viewer: Viewer) -> None:
    with database().read() as session:
        options = {f"plan:{plan.id}": plan.name for plan in visible_plans(session, viewer.username)}
        for unit in patrol_areas(session, viewer.username):
            options[f"unit:{unit.code}"] = tr(
                f"{unit.name}（全部摄像机）", f"{unit.name_en or unit.name} (all cameras)"
            )
        cameras = {camera.id: f"{camera.name}" for camera, _ in scope_cameras(session, viewer.username)}
        unfinished = unfinished_patrol(session, viewer.username)
        waiting = (
            (unfinished.id, unfinished.plan.name if unfinished.plan else "—", local_time(unfinished.started_at))
            if unfinished is not None
            else None
        )
    if waiting is not None:
        waiting_id, name, began = waiting
        st.info(
            tr(f"您有未结束的巡查：{name}（{began} 开始）", f"You have an unfinished patrol: {name} (from {began})")
        )
        st.button(tr("继续巡查", "Resume"), key="patrol_resume", on_click=resume, args=(waiting_id,))
    st.selectbox(tr("巡查计划", "Patrol plan"), list(options), format_func=options.get, key="patrol_plan")
    st.button(tr("开始巡查", "Start patrol"), key="patrol_start", type="primary", on_click=start, args=(viewer,))
    with st.expander(tr("新建巡查计划（指定摄像机）", "New patrol plan (a list of cameras)")):
        st.text_input(tr("计划名称", "Plan name"), key="plan_name")
        st.multiselect(tr("摄像机", "Cameras"), list(cameras), format_func=cameras.get, key="plan_cameras")
        st.button(tr("保存计划", "Save plan"), key="plan_create", on_click=new_plan, args=(viewer,))


def box_inputs() -> Box | None:
    """Four sides in percent of the picture; None (with the reason shown) while they do not make a rectangle."""
    columns = st.columns(4)
    sides = []
    for column, (name, zh, en, default) in zip(
        columns,
        (
            ("left", "左", "left", 25.0),
            ("top", "上", "top", 25.0),
            ("right", "右", "right", 75.0),
            ("bottom", "下", "bottom", 75.0),
        ),
        strict=True,
    ):
        sides.append(
            column.number_input(tr(f"{zh}（%）", f"{en} (%)"), 0.0, 100.0, default, step=5.0, key=f"patrol_box_{name}")
        )
    try:
        return Box(*sides)
    except DomainError as error:
        st.warning(error_text(error))
        return None


def flag_form(viewer: Viewer, patrol_id: int, camera: CameraRow, picture: Picture | None) -> None:
    st.subheader(tr("发现问题", "Flag a problem"))
    with database().read() as session:
        categories = {
            c.code: tr(f"{c.code} {c.name}", f"{c.code} {c.name_en}")
            for c in session.execute(
                select(Category).where(Category.active.is_(True)).order_by(Category.code)
            ).scalars()
        }
    st.selectbox(tr("问题类别", "Category"), list(categories), format_func=categories.get, key="patrol_category")
    st.text_area(
        tr("问题描述", "Note"), key="patrol_note", placeholder=tr("不填则用类别名称", "the category name if empty")
    )
    box = None
    if picture is not None:
        st.caption(
            tr(
                "在画面上框出问题位置（占画面宽高的百分比）",
                "Box the problem on the picture (percent of width and height)",
            )
        )
        box = box_inputs()
        if box is not None:
            try:
                st.image(boxed(picture.data, box), caption=tr("框选预览", "box preview"))
            except UnidentifiedImageError:
                st.error(tr("无法识别的图片", "Not an image that can be read"))
                return
    st.button(
        tr("提交问题（巡查立案）", "Raise the case"),
        key="patrol_flag",
        type="primary",
        disabled=picture is not None and box is None,
        on_click=flag,
        args=(viewer, patrol_id, camera, picture.data if picture else None, box),
    )


def counters(patrol_id: int) -> None:
    with database().read() as session:
        counts = patrol_counts(session, patrol_id)
    left, right = st.columns(2)
    left.metric(tr("本次覆盖率", "Coverage"), f"{counts.viewed}/{counts.planned} ({counts.coverage:.0%})")
    right.metric(tr("发现问题数", "Findings"), counts.findings)


def township_table(viewer: Viewer) -> None:
    st.subheader(tr("各乡镇（街道）巡查情况", "Patrol by township"))
    today = datetime.now(LOCAL_TZ).date()
    period = st.date_input(tr("统计期间", "Period"), (today - timedelta(days=6), today), key="patrol_period")
    if not isinstance(period, tuple) or len(period) != 2:
        st.caption(tr("请选择起止日期", "Choose the first and the last day"))
        return
    first, last = period
    start_at, end_at = (
        datetime.combine(d, time(), LOCAL_TZ).astimezone(UTC) for d in (first, last + timedelta(days=1))
    )
    with database().read() as session:
        rows = township_counts(session, viewer.username, start_at, end_at)
    frame = pd.DataFrame(
        [
            {
                tr("乡镇（街道）", "Township"): row.name,
                tr("摄像机", "Cameras"): row.cameras,
                tr("已巡查", "Viewed"): row.viewed,
                tr("巡查次数", "Patrols"): row.patrols,
                tr("发现问题数", "Findings"): row.findings,
                tr("覆盖率", "Coverage"): f"{row.coverage:.0%}",
            }
            for row in rows
        ]
    )
    st.dataframe(frame, hide_index=True, key="patrol_townships")


def patrol(viewer: Viewer, patrol_id: int) -> None:
    with database().read() as session:
        try:
            current = get_patrol(session, patrol_id, viewer.username)
        except NotFound:
            current = None
        if current is None or current.finished_at is not None or current.plan is None:
            st.session_state.pop(PATROL, None)
            st.rerun()
        assert current is not None and current.plan is not None
        plan_name = current.plan.name
        cameras = [
            CameraRow(camera.id, camera.name, township.name if township else "", camera.snapshot_url)
            for camera, township in plan_cameras(session, current.plan)
        ]
    if not cameras:
        st.info(tr("该计划已没有摄像机", "This plan has no cameras any more"))
        st.button(tr("结束巡查", "Finish"), key="patrol_finish", on_click=finish, args=(viewer, patrol_id))
        return
    position = min(max(st.session_state.get(POSITION, 0), 0), len(cameras) - 1)
    st.session_state[POSITION] = position
    camera = cameras[position]
    seen: set[str] = st.session_state.setdefault(SEEN, set())
    if f"{patrol_id}:{camera.id}" not in seen and perform(
        lambda session: record_view(session, patrol_id, camera.id, viewer.username)
    ):
        seen.add(f"{patrol_id}:{camera.id}")

    st.markdown(f"**{plan_name}**")
    st.progress(
        (position + 1) / len(cameras),
        text=tr(f"第 {position + 1}/{len(cameras)} 个", f"camera {position + 1} of {len(cameras)}"),
    )
    back, forward, done = st.columns(3)
    back.button(tr("上一个", "Previous"), key="patrol_prev", disabled=position == 0, on_click=step, args=(-1,))
    forward.button(
        tr("下一个", "Next"), key="patrol_next", disabled=position == len(cameras) - 1, on_click=step, args=(1,)
    )
    done.button(tr("结束巡查", "Finish"), key="patrol_finish", on_click=finish, args=(viewer, patrol_id))
    counters(patrol_id)

    last = st.session_state.get(LAST_CASE)
    if last:
        st.success(tr(f"已巡查立案：{last}", f"Patrol case raised: {last}"))
        st.page_link("screens/case.py", label=tr(f"查看案卷 {last}", f"Open case {last}"), query_params={"n": last})

    st.header(camera.name)
    st.caption(camera.township)
    picture = camera_picture(camera)
    if picture is not None:
        st.image(picture.data)
        st.caption(picture.source)
    flag_form(viewer, patrol_id, camera, picture)


viewer = require("inspector")
st.title(tr("视频巡查", "Video patrol"))
patrol_id = st.session_state.get(PATROL)
if patrol_id is None:
    choose(viewer)
else:
    patrol(viewer, patrol_id)
st.divider()
township_table(viewer)
