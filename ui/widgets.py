"""Pieces more than one page shows: the offline map and the evidence gallery."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.video import EvidenceError
from models.cases import Case
from models.evidence import IMAGE_KINDS, KINDS
from models.org import AdminUnit, Level, Role
from models.views import evidence_view
from ui.i18n import local_time, tr
from ui.session import storage

# Roles of the review centre may see an original while its blurred copy is still being made; everyone else
# (units, leadership) sees redacted copies only.
ORIGINAL_ROLES = frozenset({Role.INSPECTOR.value, Role.REVIEWER.value, Role.ADMIN.value})


def township_labels(session: Session, path: str | None = None) -> list[dict[str, Any]]:
    """Township-level units (with their centres) under `path`, the background of the offline map."""
    stmt = select(AdminUnit).where(AdminUnit.level == Level.TOWNSHIP.value, AdminUnit.lat.is_not(None))
    if path:
        stmt = stmt.where(AdminUnit.path.startswith(path))
    return [{"name": u.name, "lat": u.lat, "lon": u.lon} for u in session.execute(stmt).scalars()]


def offline_map(points: list[dict[str, Any]], places: list[dict[str, Any]], height: int = 420) -> alt.Chart | None:
    """Points (dicts with lat, lon, label and group) drawn over township names in a Mercator projection. No
    tiles are fetched, so the map works on a network without internet access."""
    if not points and not places:
        return None
    layers: list[alt.Chart] = []
    if places:
        frame = pd.DataFrame(places)
        layers.append(
            alt.Chart(frame)
            .mark_text(color="#9aa0a6", fontSize=11)
            .encode(longitude="lon:Q", latitude="lat:Q", text="name:N")
        )
    if points:
        frame = pd.DataFrame(points)
        layers.append(
            alt.Chart(frame)
            .mark_circle(size=70, opacity=0.8)
            .encode(
                longitude="lon:Q",
                latitude="lat:Q",
                color=alt.Color("group:N", title=tr("类别", "group")),
                tooltip=[alt.Tooltip("label:N", title=tr("说明", "label"))],
            )
        )
    return alt.layer(*layers).project(type="mercator").properties(height=height)


def evidence_items(case: Case, role: str) -> list[dict[str, Any]]:
    """The case's evidence as the gallery shows it to `role` (call inside a session)."""
    items = []
    for item in case.evidence:
        view = evidence_view(item)
        view["original"] = item.uri if role in ORIGINAL_ROLES and item.redacted_uri is None else None
        items.append(view)
    return items


def _blob(uri: str) -> bytes | None:
    try:
        return storage().read(uri)
    except (EvidenceError, OSError):
        return None


def show_evidence(items: list[dict[str, Any]], columns: int = 3) -> None:
    """A gallery of images and clips with their face counts and hashes; redacted copies first, originals only
    where `evidence_items` allowed them, and marked as such."""
    if not items:
        st.info(tr("暂无证据", "No evidence yet"))
        return
    cells = st.columns(columns)
    for index, item in enumerate(items):
        with cells[index % columns]:
            kind = KINDS.get(item["kind"], item["kind"])
            caption = f"{tr(kind, item['kind'])} · {local_time_iso(item['captured_at'])}"
            if item["face_count"] is not None:
                caption += " · " + tr(f"人脸 {item['face_count']}（已模糊）", f"{item['face_count']} face(s), blurred")
            uri = item["uri"] or item.get("original")
            if item["status"] == "failed":
                st.warning(f"{tr(kind, item['kind'])}: {item['error'] or tr('处理失败', 'failed')}")
                continue
            data = _blob(uri) if uri else None
            if data is None:
                st.caption(caption + " · " + tr("脱敏处理中", "being redacted"))
                continue
            if item["kind"] in IMAGE_KINDS or item["kind"] == "contact_sheet":
                st.image(data, caption=caption)
            elif item["kind"] == "clip":
                st.video(data)
                st.caption(caption)
            else:
                st.caption(caption)
            if item["uri"] is None:
                st.caption(tr("原件（未脱敏），仅审核中心可见", "original (not yet redacted), review centre only"))
            if item["sha256"]:
                st.caption(f"sha256 {item['sha256'][:16]}…")


def local_time_iso(value: str | None) -> str:
    return local_time(datetime.fromisoformat(value)) if value else "—"
