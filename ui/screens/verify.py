"""Verify fix-ups (整改核查): the cases in the inspector's scope that their units report fixed, each with the
picture of the problem beside the unit's after photo and a change score inside the flagged box. The inspector
closes the case (核查结案) or sends it back for rework (核查不通过, with a reason), each through the same command
as the CLI, conditional on the case version the page showed.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from integrations.compare import compare
from integrations.video import EvidenceError, Roi, read_image
from models.cases import Case, State
from models.commands import ActParams, act, get_user
from models.evidence import before_and_after
from models.patrol import Box
from models.scope import visible_cases
from ui.i18n import action_name, local_time, tr
from ui.session import Viewer, database, perform, require, storage

SHOWN = 20  # cases per page view; the oldest fix-ups first


@dataclass(frozen=True)
class Picture:
    uri: str
    kind: str
    taken: str


@dataclass(frozen=True)
class Fixed:
    number: str
    version: int
    category: str
    place: str
    unit: str
    description: str
    fixed_at: str
    rework: int
    before: Picture | None
    after: Picture | None
    box: Box | None


def _picture(item: Any) -> Picture | None:
    if item is None:
        return None
    return Picture(item.redacted_uri or item.uri, item.kind, local_time(item.captured_at or item.created_at))


def _fixed(case: Case) -> Fixed:
    before, after = before_and_after(list(case.evidence))
    created = next((e for e in case.events if e.action == "create"), None)
    fixed = next((e for e in reversed(case.events) if e.action == "report_fixed"), None)
    return Fixed(
        number=case.number,
        version=case.version,
        category=tr(case.category.name, case.category.name_en),
        place=case.unit.name,
        unit=case.responsible_unit.name if case.responsible_unit else "—",
        description=case.description,
        fixed_at=local_time(fixed.at if fixed else case.updated_at),
        rework=case.rework_count,
        before=_picture(before),
        after=_picture(after),
        box=Box.of((created.data or {}).get("box")) if created else None,
    )


def waiting(viewer: Viewer) -> tuple[list[Fixed], int]:
    """The rectified cases the inspector may see, oldest first (the first SHOWN), and how many there are."""
    with database().read() as session:
        user = get_user(session, viewer.username)
        cases = list(
            session.execute(
                visible_cases(user).where(Case.state == State.RECTIFIED.value).order_by(Case.updated_at, Case.id)
            ).scalars()
        )
        return [_fixed(case) for case in cases[:SHOWN]], len(cases)


@st.cache_data(max_entries=256, show_spinner=False)
def change(before_uri: str, after_uri: str, box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """The change score of an evidence pair (stored by content, so the URIs name the pair), inside the box
    when the finding had one, and the side-by-side picture; or the reason it could not be computed."""
    try:
        with tempfile.TemporaryDirectory(prefix="xueliang-verify-") as tmp:
            folder = Path(tmp)
            before = read_image(storage().get(before_uri, folder / "before"))
            roi = Roi(*Box(*box).pixels(before.shape[1], before.shape[0])) if box else None
            result = compare(before, storage().get(after_uri, folder / "after"), roi, folder / "side_by_side.jpg")
            assert result.side_by_side is not None
            return {"score": result.score, "changed": result.changed, "image": result.side_by_side.read_bytes()}
    except EvidenceError as exc:
        return {"error": str(exc)}


def decide(viewer: Viewer, number: str, action: str, version: int) -> None:
    """A button's command with the version the page showed, so a case changed since is refused (Conflict)."""
    note = st.session_state.get(f"verify_note_{number}") or None
    done = perform(
        lambda session: act(session, number, action, viewer.username, ActParams(note=note, version=version)).number,
        success=tr(f"{number}：{action_name(action)}", f"{number}: {action_name(action)}"),
    )
    if done is not None:
        st.session_state.pop(f"verify_note_{number}", None)


def show_picture(picture: Picture | None, label: str, missing: str) -> None:
    st.markdown(f"**{label}**")
    if picture is None:
        st.info(missing)
        return
    try:
        st.image(storage().read(picture.uri), caption=f"{picture.kind} · {picture.taken}")
    except (EvidenceError, OSError):
        st.warning(tr("图片不在证据库中", "The picture is not in the evidence store"))


def show(viewer: Viewer, item: Fixed) -> None:
    with st.container(border=True):
        st.subheader(f"{item.number} · {item.category}")
        st.caption(
            tr(
                f"{item.place} · 责任单位 {item.unit} · 反馈整改 {item.fixed_at} · 返工 {item.rework} 次",
                f"{item.place} · unit {item.unit} · reported fixed {item.fixed_at} · rework {item.rework}",
            )
        )
        st.markdown(item.description)
        before, after = st.columns(2)
        with before:
            show_picture(item.before, tr("整改前", "Before"), tr("没有整改前画面", "No picture of the problem"))
        with after:
            show_picture(
                item.after, tr("整改后", "After"), tr("责任单位未上传整改后照片", "No after photo from the unit")
            )
        if item.before is not None and item.after is not None:
            with st.spinner(tr("正在比对整改前后画面…", "Comparing before and after…")):
                box = (item.box.left, item.box.top, item.box.right, item.box.bottom) if item.box else None
                result = change(item.before.uri, item.after.uri, box)
            if "error" in result:
                st.warning(tr(f"无法比对：{result['error']}", f"Could not compare: {result['error']}"))
            else:
                verdict = (
                    tr("画面已明显变化", "changed") if result["changed"] else tr("未见明显变化", "no clear change")
                )
                where = tr("（框选范围内）", " (inside the box)") if item.box else ""
                st.markdown(
                    tr(
                        f"变化评分 **{result['score']:.2f}**{where}：{verdict}",
                        f"Change score **{result['score']:.2f}**{where}: {verdict}",
                    )
                )
                with st.expander(tr("比对图", "Comparison")):
                    st.image(result["image"])
        st.text_input(tr("核查意见（不通过时必填）", "Note (required to send back)"), key=f"verify_note_{item.number}")
        passed, failed = st.columns(2)
        passed.button(
            tr("核查结案", "Verify and close"),
            key=f"verify_pass_{item.number}",
            type="primary",
            on_click=decide,
            args=(viewer, item.number, "verify_pass", item.version),
        )
        failed.button(
            tr("核查不通过（返工）", "Send back for rework"),
            key=f"verify_fail_{item.number}",
            on_click=decide,
            args=(viewer, item.number, "verify_fail", item.version),
        )


viewer = require("inspector")
st.title(tr("整改核查", "Verify fix-ups"))
items, total = waiting(viewer)
if not items:
    st.info(tr("暂无待核查的案卷", "No fix-ups waiting for verification"))
elif total > len(items):
    st.caption(tr(f"共 {total} 件，先显示最早的 {len(items)} 件", f"{total} in all; the oldest {len(items)} shown"))
for item in items:
    show(viewer, item)
