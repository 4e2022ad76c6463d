"""Dispatch board (派遣看板): the responsible unit's cases with their SMS notices, unacknowledged and overdue first,
and the unit's own actions for those who do not answer by SMS: acknowledge, report fixed (with an after photo),
return, request an extension.

Actions run in button callbacks with the case version that was on screen (bound when the button was drawn), so
someone who acted meanwhile (an SMS reply, a colleague) makes the click a conflict instead of an action on a case
the viewer has not seen."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import streamlit as st
from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session, selectinload
from streamlit.runtime.uploaded_file_manager import UploadedFile

from integrations.video import EvidenceError
from models.cases import Case, State
from models.commands import ActParams, act, get_user
from models.db import utcnow
from models.errors import DomainError, ValidationError
from models.notices import BoardRow, dispatch_board
from models.replies import AfterPhoto, add_after_photo
from models.scope import visible_cases
from models.workflow import available_actions
from ui.i18n import LOCAL_TZ, action_name, countdown, local_time, state_name, tr
from ui.notices import notice_frame
from ui.session import USER_KEY, database, perform, require, storage

ON_BOARD = (State.DISPATCHED.value, State.ACKNOWLEDGED.value, State.RECTIFIED.value, State.PARKED.value)
SHOWN = 50
PHOTO_TYPES = ["png", "jpg", "jpeg", "webp"]


@dataclass(frozen=True)
class Card:
    number: str
    version: int
    state: str
    category: str
    place: str
    description: str
    ack_due: datetime | None
    rectify_due: datetime | None
    extension_until: datetime | None
    late: bool
    supervised: bool
    actions: frozenset[str]

    @classmethod
    def of(cls, case: Case, actions: frozenset[str], now: datetime) -> Card:
        due = case.ack_due if case.state == State.DISPATCHED.value else case.rectify_due
        return cls(
            number=case.number,
            version=case.version,
            state=case.state,
            category=tr(case.category.name, case.category.name_en or case.category.name),
            place=case.unit.name,
            description=case.description or "",
            ack_due=case.ack_due,
            rectify_due=case.rectify_due,
            extension_until=case.extension_requested_until,
            late=case.overdue or (due is not None and due < now),
            supervised=case.supervised,
            actions=actions,
        )

    def urgency(self) -> tuple[bool, bool, bool, datetime]:
        """Waiting for the unit before waiting for others; overdue, then unacknowledged, then the nearest due."""
        waiting = self.state in (State.DISPATCHED.value, State.ACKNOWLEDGED.value)
        due = (self.ack_due if self.state == State.DISPATCHED.value else self.rectify_due) or datetime.max.replace(
            tzinfo=UTC
        )
        return (not waiting, not self.late, self.state != State.DISPATCHED.value, due)


def load(username: str, unit_id: int | None, now: datetime) -> tuple[list[Card], dict[str, list[BoardRow]]]:
    with database().read() as session:
        user = get_user(session, username)
        cases = (
            session.execute(
                visible_cases(user)
                .where(Case.state.in_(ON_BOARD))
                .options(selectinload(Case.category), selectinload(Case.unit), selectinload(Case.responsible_unit))
            )
            .scalars()
            .all()
        )
        cards = [Card.of(c, frozenset(s.name for s in available_actions(c, user)), now) for c in cases]
        notices: dict[str, list[BoardRow]] = {}
        if unit_id is not None:
            for row in dispatch_board(session, unit_id=unit_id, limit=2000):
                notices.setdefault(row.case_number, []).append(row)
    return sorted(cards, key=Card.urgency), notices


# -------------------------------------------------------------------------------------------------- actions


def after_photo(upload: UploadedFile) -> AfterPhoto:
    """Check that the upload is an image and keep it (content-addressed) as the SMS path keeps an MMS photo.
    Raises a DomainError (shown like any refusal) when it is not an image or cannot be stored."""
    data = upload.getvalue()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind = (image.format or "").lower()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValidationError(
            f"上传的文件 {upload.name} 不是图片", f"the uploaded file {upload.name} is not an image"
        ) from exc
    try:
        stored = storage().put(data, suffix={"jpeg": ".jpg", "png": ".png", "webp": ".webp"}.get(kind, ""))
    except EvidenceError as exc:
        raise DomainError(f"照片未能保存：{exc}", f"the photo could not be stored: {exc}") from exc
    return AfterPhoto(
        source=f"console:{upload.name}",
        content_type=upload.type,
        uri=stored.uri,
        sha256=stored.sha256,
        size=stored.size,
    )


def run_action(number: str, action: str, version: int, note_key: str | None = None) -> None:
    """Callback of every action button: one command, with the version that was on screen."""
    username = st.session_state[USER_KEY]
    note = st.session_state.get(note_key, "") if note_key else None
    now = utcnow()
    due: datetime | None = None
    photo: AfterPhoto | None = None
    refusal: DomainError | None = None
    upload = st.session_state.get(f"photo_{number}") if action == "report_fixed" else None
    if upload is not None:
        try:  # stored before the transaction, as an MMS photo is
            photo = after_photo(upload)
        except DomainError as exc:
            refusal = exc
    if action == "request_extension":
        day, clock = st.session_state.get(f"ext_date_{number}"), st.session_state.get(f"ext_time_{number}")
        due = datetime.combine(day, clock, tzinfo=LOCAL_TZ).astimezone(UTC) if day and clock else None

    def command(session: Session) -> Case:
        if refusal is not None:
            raise refusal
        case = act(session, number, action, username, ActParams(note=note, due=due, version=version), now)
        if photo is not None:  # in the same transaction, as an MMS photo with an SMS "完成"
            add_after_photo(session, number, photo, username, now)
        return case

    name = action_name(action)
    done = perform(command, success=tr(f"案卷 {number} 已{name}", f"case {number}: {name} done"))
    if done is not None and note_key:
        st.session_state[note_key] = ""


# --------------------------------------------------------------------------------------------------- drawing


def deadline(label: str, due: datetime | None, now: datetime) -> None:
    st.markdown(f"**{label}**  \n{local_time(due)}  \n{countdown(due, now) if due else '—'}")


def action_button(
    label: str, card: Card, action: str, key: str, note_key: str | None = None, primary: bool = False
) -> None:
    """A button whose click runs `action` on the version of the case drawn now."""
    st.button(
        label,
        key=key,
        type="primary" if primary else "secondary",
        on_click=run_action,
        args=(card.number, action, card.version, note_key),
    )


def draw(card: Card, rows: list[BoardRow], now: datetime) -> None:
    n = card.number
    with st.container(border=True, key=f"card_{n}"):
        marks = ""
        if card.late:
            marks += " 🔴 " + tr("超期", "overdue")
        if card.supervised:
            marks += " · " + tr("督办", "supervised")
        st.subheader(f"{n} · {card.category}{marks}")
        st.caption(f"{card.place} · {state_name(card.state)} · {tr('版本', 'version')} {card.version}")
        if card.description:
            st.text(card.description)
        left, middle, right = st.columns(3)
        with left:
            deadline(tr("签收期限", "Acknowledge by"), card.ack_due if card.state == "dispatched" else None, now)
        with middle:
            deadline(tr("整改期限", "Fix by"), card.rectify_due, now)
        with right:
            if card.extension_until:
                deadline(tr("申请延期至（待审批）", "Extension asked until (pending)"), card.extension_until, now)
        if rows:
            st.dataframe(notice_frame(rows), hide_index=True, key=f"notices_{n}")
        else:
            st.caption(tr("尚无短信通知", "No SMS notice yet"))
        buttons = st.columns(4)
        if "acknowledge" in card.actions:
            with buttons[0]:
                action_button(tr("签收", "Acknowledge"), card, "acknowledge", f"ack_{n}", primary=True)
        if buttons[1].button(tr("打开案卷", "Open case"), key=f"open_{n}"):
            st.switch_page("screens/case.py", query_params={"n": n})
        if "report_fixed" in card.actions:
            with st.expander(tr("处理反馈（整改完成）", "Report fixed"), key=f"fixed_box_{n}"):
                st.file_uploader(
                    tr("整改后照片", "After photo"), type=PHOTO_TYPES, key=f"photo_{n}", accept_multiple_files=False
                )
                st.text_input(tr("说明", "Note"), key=f"fixed_note_{n}")
                action_button(tr("提交处理反馈", "Report fixed"), card, "report_fixed", f"fixed_{n}", f"fixed_note_{n}")
        if "return" in card.actions:
            with st.expander(tr("退回（非本单位职责）", "Return (not ours)"), key=f"return_box_{n}"):
                st.text_area(tr("退回理由（必填）", "Reason (required)"), key=f"return_note_{n}")
                action_button(tr("退回", "Return"), card, "return", f"return_{n}", f"return_note_{n}")
        if "request_extension" in card.actions:
            with st.expander(tr("申请延期", "Request extension"), key=f"ext_box_{n}"):
                base = max(card.rectify_due or now, now).astimezone(LOCAL_TZ) + timedelta(days=2)
                st.date_input(
                    tr("新期限（日期）", "New due date"),
                    value=base.date(),
                    min_value=now.astimezone(LOCAL_TZ).date(),
                    key=f"ext_date_{n}",
                )
                st.time_input(
                    tr("新期限（时间，北京时间）", "New due time (Beijing)"), value=time(18, 0), key=f"ext_time_{n}"
                )
                st.text_area(tr("延期理由（必填）", "Reason (required)"), key=f"ext_note_{n}")
                action_button(
                    tr("提交延期申请", "Request extension"), card, "request_extension", f"ext_{n}", f"ext_note_{n}"
                )


viewer = require("dispatcher")
now = utcnow()
st.title(tr("派遣看板", "Dispatch board"))
cards, notices = load(viewer.username, viewer.responsible_unit_id, now)
st.caption(viewer.responsible_unit_name or tr("未关联责任单位", "no responsible unit"))
waiting = [c for c in cards if c.state in ("dispatched", "acknowledged")]
counts = st.columns(4)
counts[0].metric(tr("待签收", "To acknowledge"), sum(1 for c in cards if c.state == "dispatched"))
counts[1].metric(tr("整改中", "Being fixed"), sum(1 for c in cards if c.state == "acknowledged"))
counts[2].metric(tr("超期", "Overdue"), sum(1 for c in waiting if c.late))
counts[3].metric(tr("待核查", "Awaiting verification"), sum(1 for c in cards if c.state == "rectified"))
if not cards:
    st.info(tr("本单位暂无待办案卷", "No cases for your unit"))
for card in cards[:SHOWN]:
    draw(card, notices.get(card.number, []), now)
if len(cards) > SHOWN:
    st.caption(tr(f"仅显示最紧急的 {SHOWN} 件，共 {len(cards)} 件", f"the {SHOWN} most urgent of {len(cards)} shown"))
