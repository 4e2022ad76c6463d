"""Case detail (案卷详情): one case as the viewer's scope allows it, with its map, timeline, evidence, duplicates
and linked reports, and the single form of the actions the state machine allows the viewer now.

A case outside the viewer's scope reads exactly like a missing one, however its number arrives (the input, the
`?n=` parameter). An action is submitted with the version the page showed, so when someone else acted first
the command refuses with a Conflict naming them, and the page shows the case as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from integrations.evidence_pipeline import process_case_evidence
from models.cases import Case, Source
from models.commands import ActParams, act, get_user
from models.db import utcnow
from models.errors import NotFound, ValidationError
from models.org import User
from models.queues import (
    LinkedCase,
    LinkedSignal,
    case_signals,
    dispatch_units,
    district_path,
    merge_candidates,
    merged_into_this,
    merged_target,
)
from models.routing import default_responsible_unit
from models.scope import get_visible_case
from models.views import case_view
from models.workflow import ACTIONS, available_actions
from ui.i18n import LOCAL_TZ, action_name, countdown, error_text, local_time, source_name, state_name, tier_name, tr
from ui.session import database, perform, require, settings, storage
from ui.widgets import ORIGINAL_ROLES, evidence_items, offline_map, show_evidence, township_labels

ACTION_KEYS = ("act_action", "act_note", "act_unit", "act_due_date", "act_due_time", "act_target", "act_target_other")
OTHER_TARGET = "__other__"
DEFAULT_DUE_TIME = time(18, 0)


@dataclass
class Detail:
    """Everything the page shows of one case, read in one session and detached from it."""

    view: dict[str, Any]
    category_en: str
    responsible_unit: str | None
    camera: str | None
    actions: list[str]
    merged_from: list[LinkedCase]
    merged_into: LinkedCase | None
    signals: list[LinkedSignal]
    nearby: list[LinkedCase]
    units: list[tuple[str, str]]
    default_unit: str | None
    evidence: list[dict[str, Any]]
    places: list[dict[str, Any]]
    needs_evidence: bool

    @classmethod
    def load(cls, session: Session, user: User, case: Case, role: str) -> Detail:
        actions = [spec.name for spec in available_actions(case, user)]
        default_unit = None
        if "dispatch" in actions:
            unit = default_responsible_unit(session, case.unit, case.routing_rule, user.admin_unit)
            default_unit = unit.code if unit is not None else None
        return cls(
            view=case_view(case, detail=True),
            category_en=case.category.name_en,
            responsible_unit=case.responsible_unit.name if case.responsible_unit else None,
            camera=case.camera.name if case.camera else None,
            actions=actions,
            merged_from=merged_into_this(session, user, case),
            merged_into=merged_target(session, user, case),
            signals=case_signals(session, case),
            nearby=merge_candidates(session, user, case),
            units=dispatch_units(session, user) if "dispatch" in actions else [],
            default_unit=default_unit,
            evidence=evidence_items(case, role),
            places=township_labels(session, district_path(session, case.unit_path)),
            needs_evidence=case.source == Source.CAMERA.value
            and (not case.evidence or any(item.status == "failed" for item in case.evidence)),
        )


def chosen_number() -> str:
    """The case number from the input, which `?n=` fills when it changes (a link from the queue or elsewhere);
    the parameter follows the input so the address names the case shown."""
    param = st.query_params.get("n", "").strip()
    if param and param != st.session_state.get("_case_param"):
        st.session_state["case_number"] = param
    number = st.text_input(tr("案卷编号", "Case number"), key="case_number", placeholder="LY-20261125-0001").strip()
    st.session_state["_case_param"] = number
    if number:
        st.query_params["n"] = number
    elif "n" in st.query_params:
        del st.query_params["n"]
    return number


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def header(detail: Detail, now: datetime) -> None:
    view = detail.view
    st.header(view["number"])
    running = {
        "review_due": view["state"] == "reviewing",
        "ack_due": view["state"] == "dispatched",
        "rectify_due": view["state"] in ("dispatched", "acknowledged"),
    }
    late = any(running[field] and (when(view[field]) or now) < now for field in running)
    marks = []
    if view["overdue"] or late:
        marks.append(":red-badge[" + tr("超期", "overdue") + "]")
    if view["supervised"]:
        marks.append(":orange-badge[" + tr("督办", "supervised") + "]")
    if view["rework_count"]:
        marks.append(":violet-badge[" + tr(f"返工 {view['rework_count']} 次", f"rework ×{view['rework_count']}") + "]")
    st.markdown(
        " ".join(
            [
                f":blue-badge[{state_name(view['state'])}]",
                f":gray-badge[{tier_name(view['tier'])}]",
                *marks,
            ]
        )
    )
    facts = [
        (tr("类别", "Category"), f"{view['category']} {tr(view['category_name'], detail.category_en)}"),
        (tr("地点", "Place"), view["unit_name"]),
        (tr("来源", "Source"), source_name(view["source"]) + (f" · {detail.camera}" if detail.camera else "")),
        (tr("责任单位", "Responsible unit"), detail.responsible_unit or "—"),
        (tr("举报人数", "Reporters"), str(view["reporter_count"])),
        (tr("版本", "Version"), str(view["version"])),
        (tr("创建时间", "Created"), local_time(when(view["created_at"]))),
        (tr("立案时间", "Registered"), local_time(when(view["registered_at"]))),
    ]
    for field, zh, en in (
        ("review_due", "审核时限", "Review due"),
        ("ack_due", "签收时限", "Acknowledge by"),
        ("rectify_due", "整改时限", "Rectify by"),
        ("extension_requested_until", "申请延期至", "Extension asked to"),
    ):
        due = when(view[field])
        if due is None:
            continue
        text = local_time(due)
        if running.get(field):
            text += f" ({countdown(due, now)})"
        facts.append((tr(zh, en), text))
    if view["closed_at"]:
        facts.append((tr("结案时间", "Closed"), local_time(when(view["closed_at"]))))
    st.markdown("\n".join(f"- **{label}**：{value}" for label, value in facts))
    if view["description"]:
        st.caption(tr("问题描述", "Description"))
        st.text(view["description"])  # as typed: a report's text is not markdown


def show_map(detail: Detail) -> None:
    view = detail.view
    points = []
    if view["lat"] is not None and view["lon"] is not None:
        points.append(
            {"lat": view["lat"], "lon": view["lon"], "label": view["number"], "group": tr("本案", "this case")}
        )
    nearby = tr("附近同类", "nearby, same category")
    points += [{"lat": c.lat, "lon": c.lon, "label": c.number, "group": nearby} for c in detail.nearby]
    chart = offline_map(points, detail.places, height=320)
    if chart is None:
        st.caption(tr("无位置信息", "No location"))
    else:
        st.altair_chart(chart, key="case_map")


def timeline(detail: Detail) -> None:
    rows = []
    for event in detail.view["history"]:
        change = state_name(event["to_state"])
        if event["from_state"] and event["from_state"] != event["to_state"]:
            change = f"{state_name(event['from_state'])} → {change}"
        if event["from_tier"] and event["from_tier"] != event["to_tier"]:
            change += f" · {tier_name(event['from_tier'])} → {tier_name(event['to_tier'])}"
        rows.append(
            {
                tr("时间", "Time"): local_time(when(event["at"]), "%Y-%m-%d %H:%M:%S"),
                tr("操作", "Action"): action_name(event["action"]),
                tr("操作人", "Actor"): event["actor"],
                tr("状态", "State"): change,
                tr("说明", "Note"): event["note"] or "",
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="case_timeline")


def linked_table(cases: list[LinkedCase], key: str) -> None:
    rows = [
        {
            tr("案卷编号", "Number"): c.number,
            tr("状态", "State"): state_name(c.state),
            tr("层级", "Tier"): tier_name(c.tier),
            tr("地点", "Place"): c.place,
            tr("举报人数", "Reporters"): c.reporter_count,
            tr("创建时间", "Created"): local_time(c.created_at),
            **({tr("距离（米）", "Distance (m)"): c.distance_m} if c.distance_m is not None else {}),
        }
        for c in cases
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=key)


def links(detail: Detail) -> None:
    if detail.merged_into is not None:
        st.warning(tr(f"本案已合并到 {detail.merged_into.number}", f"merged into {detail.merged_into.number}"))
    st.markdown("**" + tr("合并到本案的案卷", "Cases merged into this one") + "**")
    if detail.merged_from:
        linked_table(detail.merged_from, "case_merged_from")
    else:
        st.caption(tr("无", "none"))
    st.markdown("**" + tr("关联的告警与举报", "Linked alarms and reports") + "**")
    if detail.signals:
        rows = [
            {
                tr("来源", "Source"): s.source,
                tr("类型", "Type"): s.type or "",
                tr("状态", "State"): s.state or "",
                tr("时间", "Time"): local_time(s.time or s.received_at, "%Y-%m-%d %H:%M:%S"),
                tr("摄像机", "Camera"): s.camera or "",
                tr("处理结果", "Outcome"): s.status,
            }
            for s in detail.signals
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, key="case_signals")
    else:
        st.caption(tr("无", "none"))
    st.markdown("**" + tr("附近同类未结案卷（200 米内，可合并）", "Open cases of this category nearby (200 m)") + "**")
    if detail.nearby:
        linked_table(detail.nearby, "case_nearby")
    else:
        st.caption(tr("无", "none"))


def evidence(detail: Detail, role: str) -> None:
    items = detail.evidence
    faces = [item["face_count"] for item in items if item["face_count"] is not None]
    if faces:
        st.caption(tr(f"检出人脸最多 {max(faces)} 张（均已模糊）", f"up to {max(faces)} face(s) found, all blurred"))
    show_evidence(items)
    if detail.needs_evidence and role in ORIGINAL_ROLES:
        if st.button(tr("处理证据", "Process evidence"), key="evidence_run"):
            process_evidence(detail.view["number"])


def process_evidence(number: str) -> None:
    """The evidence flow's own function, run here for a case whose evidence is missing or failed."""
    with st.status(tr("证据处理中…", "Processing evidence…"), expanded=True) as status:
        st.write(
            tr(
                "获取告警录像与截图，提取关键帧，模糊人脸…",
                "Fetching the clip and snapshot, keyframes, blurring faces…",
            )
        )
        report = process_case_evidence(database(), settings(), number, storage=storage())
        st.write(
            tr(
                f"新增 {len(report.items)} 项，失败 {len(report.failed)} 项，人脸 {report.face_count or 0}",
                f"{len(report.items)} item(s) added, {len(report.failed)} failed, faces {report.face_count or 0}",
            )
        )
        for failure in report.failed:
            st.write(f"{failure['kind']}: {failure['error']}")
        if not report.items and not report.failed:
            st.write(tr("告警未提供录像或截图地址", "The alarm named no clip or snapshot"))
        status.update(
            label=tr("证据处理完成", "Evidence processed"),
            state="error" if report.failed else "complete",
            expanded=bool(report.failed) or not report.items,
        )


def due_value() -> datetime | None:
    """The picked local date and time (Asia/Shanghai) as a UTC instant, or None when no date was picked."""
    day: date | None = st.session_state.get("act_due_date")
    if day is None:
        return None
    moment: time = st.session_state.get("act_due_time") or DEFAULT_DUE_TIME
    return datetime.combine(day, moment, tzinfo=LOCAL_TZ).astimezone(UTC)


def target_value() -> str | None:
    target = st.session_state.get("act_target")
    if target is None or target == OTHER_TARGET:
        target = st.session_state.get("act_target_other", "")
    return target.strip() or None


def submit(number: str, version: int, username: str) -> None:
    """The form's callback: runs before the rerun, with the version the page showed when the button was drawn."""
    action = st.session_state["act_action"]
    spec = ACTIONS[action]
    note = (st.session_state.get("act_note") or "").strip()
    params = ActParams(
        note=note or None,
        unit=st.session_state.get("act_unit") if spec.name == "dispatch" else None,
        due=due_value() if spec.needs_due or action in ("dispatch", "verify_fail") else None,
        target=target_value() if spec.needs_target else None,
        version=version,
    )

    def command(session: Session) -> Case:
        if spec.needs_note and not note:
            raise ValidationError(f"“{spec.zh}”须填写理由", f"'{spec.en}' needs a reason")
        if params.target:
            get_visible_case(session, username, params.target)  # a target outside the scope does not exist
        return act(session, number, action, username, params)

    if perform(command, success=tr(f"已办理“{spec.zh}”：{number}", f"'{spec.en}' done: {number}")) is not None:
        for key in ACTION_KEYS:
            st.session_state.pop(key, None)


def action_form(detail: Detail, username: str, now: datetime) -> None:
    view = detail.view
    if not detail.actions:
        st.caption(tr("当前没有您可以执行的操作", "There is nothing you can do on this case now"))
        return
    # option labels are bound in the viewer's language here (see the queue page)
    labels = {name: action_name(name) for name in detail.actions}
    action = st.selectbox(tr("操作", "Action"), detail.actions, format_func=labels.__getitem__, key="act_action")
    spec = ACTIONS[action]
    if action == "dispatch":
        names = dict(detail.units)
        codes = list(names)
        st.selectbox(
            tr("责任单位", "Responsible unit"),
            codes,
            index=codes.index(detail.default_unit) if detail.default_unit in names else None,
            format_func=lambda code: f"{names[code]} ({code})",
            key="act_unit",
        )
    if spec.needs_target:
        targets = {c.number: f"{c.number} ({c.distance_m:.0f} m)" for c in detail.nearby}
        targets[OTHER_TARGET] = tr("其他案卷编号…", "another case number…")
        target = st.selectbox(
            tr("合并到", "Merge into"), list(targets), format_func=targets.__getitem__, key="act_target"
        )
        if target == OTHER_TARGET:
            st.text_input(tr("目标案卷编号", "Target case number"), key="act_target_other")
    if spec.needs_due or action in ("dispatch", "verify_fail"):
        current = when(view["rectify_due"])
        base = max(current, now) if current else now
        day, moment = st.columns(2)
        day.date_input(
            tr("新期限（日期）", "New due date")
            if spec.needs_due
            else tr("整改期限（留空按规则）", "Due date (empty: by rule)"),
            value=(base.astimezone(LOCAL_TZ) + timedelta(days=3)).date() if spec.needs_due else None,
            min_value=now.astimezone(LOCAL_TZ).date(),
            key="act_due_date",
        )
        moment.time_input(tr("时间（北京时间）", "Time (Beijing)"), value=DEFAULT_DUE_TIME, key="act_due_time")
    st.text_area(
        tr("理由（必填）", "Reason (required)") if spec.needs_note else tr("备注（选填）", "Note (optional)"),
        key="act_note",
    )
    st.button(
        tr("提交", "Submit"),
        key="act_submit",
        type="primary",
        on_click=submit,
        args=(view["number"], view["version"], username),
    )


viewer = require()
st.title(tr("案卷详情", "Case detail"))
number = chosen_number()
if not number:
    st.info(tr("请输入案卷编号", "Enter a case number"))
    st.stop()

if st.session_state.get("_case_shown") != number:
    for key in ACTION_KEYS:  # a half-filled form belongs to the case it was filled for
        st.session_state.pop(key, None)
st.session_state["_case_shown"] = number

now = utcnow()
with database().read() as session:
    try:
        case = get_visible_case(session, viewer.username, number)
    except NotFound as error:
        st.error(error_text(error))
        st.stop()
    detail = Detail.load(session, get_user(session, viewer.username), case, viewer.role)

header(detail, now)
main, side = st.columns([3, 2])
with side:
    show_map(detail)
with main:
    st.subheader(tr("办理", "Act"))
    action_form(detail, viewer.username, now)
st.subheader(tr("办理过程", "Timeline"))
timeline(detail)
st.subheader(tr("证据", "Evidence"))
evidence(detail, viewer.role)
st.subheader(tr("重复与关联", "Duplicates and linked reports"))
links(detail)
