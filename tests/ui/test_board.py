"""Dispatch board: a dispatcher sees her unit's cases (and only those) with their notices' delivery status, most
urgent first, and acknowledges, reports fixed with an after photo, returns and asks for an extension through the
same commands as the CLI; a click on a version someone else has changed is refused with the message."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select

from flows.dispatch import dispatch_notices
from models.cases import Evidence
from models.commands import ActParams, act, get_case
from models.db import Database, utcnow
from models.settings import Settings
from tests.conftest import TEST_SECRET
from tests.sms_support import contacts, dispatched
from tests.ui.support import console, texts

SETTINGS = Settings.load(environ={"XUELIANG_SECRET_KEY": TEST_SECRET})
OTHER_UNIT = "VC-371302001001"  # 兰山第一社区居委会: the demo user "dispatcher_village" belongs to it


def case_state(url: str, number: str) -> tuple[str, int, datetime | None]:
    db = Database(url)
    try:
        with db.read() as session:
            case = get_case(session, number)
            return case.state, case.version, case.extension_requested_until
    finally:
        db.dispose()


def one_dispatched(url: str, description: str = "人行道乱堆建筑垃圾", unit: str | None = None) -> str:
    db = Database(url)
    try:
        return dispatched(db, description, settings=SETTINGS, **({"unit": unit} if unit else {}))
    finally:
        db.dispose()


def test_a_dispatcher_sees_her_units_case_with_its_notice_status_and_not_another_units(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(demo_url)
    ours = dispatched(db, "人行道乱堆建筑垃圾", settings=SETTINGS)
    theirs = dispatched(db, "社区门口垃圾桶满溢", unit=OTHER_UNIT, settings=SETTINGS)
    dispatch_notices(db, SETTINGS, ours)
    phones = [c.phone for c in contacts(db)]
    db.dispose()

    app = console(demo_url, monkeypatch, "dispatcher", "board")
    assert not app.exception
    assert app.title[0].value == "派遣看板"
    shown = texts(app)
    assert ours in shown and "人行道乱堆建筑垃圾" in shown
    assert theirs not in shown and "社区门口垃圾桶满溢" not in shown
    [table] = app.dataframe  # the one card's notices
    frame = table.value
    assert list(frame["状态"]) == ["已存入发件箱"]  # to the primary contact, kept in the outbox
    [recipient] = frame["收件人"]
    assert recipient.startswith("兰山街道办事处值班室 +86 1") and "****" in recipient
    assert not any(phone[-8:] in recipient for phone in phones)
    assert app.button(key=f"ack_{ours}").label == "签收"

    other = console(demo_url, monkeypatch, "dispatcher_village", "board")
    assert theirs in texts(other) and ours not in texts(other)
    assert other.dataframe[0].value["状态"].tolist() == ["待发送"]  # not sent yet


def test_overdue_and_unacknowledged_cases_come_first(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    now = utcnow()
    acknowledged = dispatched(db, "已签收、期限未到", settings=SETTINGS, at=now)
    waiting = dispatched(db, "待签收", settings=SETTINGS, at=now)
    late = dispatched(db, "超期未整改", settings=SETTINGS, at=now - timedelta(days=10), due=now - timedelta(days=7))
    for number in (acknowledged, late):
        with db.write() as session:
            act(session, number, "acknowledge", "dispatcher")
    db.dispose()

    app = console(demo_url, monkeypatch, "dispatcher", "board")
    order = [h.value.split(" · ")[0] for h in app.subheader]
    assert order == [late, waiting, acknowledged]
    assert "超期" in app.subheader[0].value and "超期" not in app.subheader[1].value
    assert [m.value for m in app.metric] == ["1", "2", "1", "0"]  # to acknowledge, being fixed, overdue, to verify


def test_acknowledge_moves_the_case_to_acknowledged(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board")
    app.button(key=f"ack_{number}").click().run()
    assert not app.exception
    assert case_state(demo_url, number)[0] == "acknowledged"
    assert f"案卷 {number} 已签收" in texts(app)
    assert all(button.key != f"ack_{number}" for button in app.button)  # nothing left to acknowledge


def test_a_click_on_a_version_changed_meanwhile_is_refused_with_the_message(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board")
    seen = case_state(demo_url, number)[1]
    db = Database(demo_url)
    with db.write() as session:  # a colleague (or an SMS reply) asks for an extension first
        until = utcnow() + timedelta(days=30)
        act(session, number, "request_extension", "dispatcher", ActParams(note="材料未到", due=until))
    db.dispose()
    app.button(key=f"ack_{number}").click().run()
    assert f"您看到的是第 {seen} 版" in texts(app)
    assert case_state(demo_url, number)[0] == "dispatched"


def png(color: tuple[int, int, int] = (40, 160, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_report_fixed_with_an_uploaded_photo_stores_after_evidence_and_rectifies(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Streamlit 1.67's AppTest drives st.file_uploader itself: the upload goes through the real widget."""
    number = one_dispatched(demo_url)
    media = tmp_path / "media"
    app = console(demo_url, monkeypatch, "dispatcher", "board", media_dir=str(media))
    photo = png()
    app.file_uploader(key=f"photo_{number}").upload("after.png", photo, "image/png")
    app.text_input(key=f"fixed_note_{number}").input("已清运完毕")
    app.button(key=f"fixed_{number}").click().run()
    assert not app.exception
    db = Database(demo_url)
    with db.read() as session:
        case = get_case(session, number)
        items = session.execute(select(Evidence).where(Evidence.case_id == case.id)).scalars().all()
        assert case.state == "rectified"
        assert [(e.kind, e.sha256, e.size, e.created_by, e.redacted_uri) for e in items] == [
            ("after_photo", hashlib.sha256(photo).hexdigest(), len(photo), "dispatcher", None)
        ]
        assert items[0].uri is not None and Path(items[0].uri.removeprefix("file://")).read_bytes() == photo
        assert [(e.action, e.note) for e in case.events[-2:]] == [
            ("report_fixed", "已清运完毕"),
            ("evidence", f"整改后照片入卷 / after_photo added sha256 {items[0].sha256[:12]}…"),
        ]
    db.dispose()


def test_a_file_that_is_not_an_image_is_refused_and_nothing_changes(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board", media_dir=str(tmp_path / "media"))
    app.file_uploader(key=f"photo_{number}").upload("after.png", b"<html>not a photo</html>", "image/png")
    app.button(key=f"fixed_{number}").click().run()
    assert "上传的文件 after.png 不是图片" in texts(app)
    assert case_state(demo_url, number)[0] == "dispatched"


def test_return_needs_a_reason_then_leaves_the_board(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board")
    app.button(key=f"return_{number}").click().run()
    assert "“退回”须填写理由" in texts(app)
    assert case_state(demo_url, number)[0] == "dispatched"
    app.text_area(key=f"return_note_{number}").input("该路段属市政公司养护")
    app.button(key=f"return_{number}").click().run()
    assert case_state(demo_url, number)[0] == "reviewing"
    assert number not in " ".join(h.value for h in app.subheader)


def test_request_extension_sets_the_asked_due_time_in_beijing_time(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board")
    day = (utcnow() + timedelta(days=40)).astimezone(ZoneInfo("Asia/Shanghai")).date()
    app.date_input(key=f"ext_date_{number}").set_value(day)
    app.time_input(key=f"ext_time_{number}").set_value(time(17, 30))
    app.text_area(key=f"ext_note_{number}").input("需协调施工队")
    app.button(key=f"ext_{number}").click().run()
    assert not app.exception
    expected = datetime.combine(day, time(17, 30), tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
    assert case_state(demo_url, number)[2] == expected
    assert f"申请延期至（待审批）**  \n{day:%Y-%m-%d} 17:30" in texts(app)


def test_open_case_goes_to_the_case_page_with_its_number(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = one_dispatched(demo_url)
    app = console(demo_url, monkeypatch, "dispatcher", "board")
    app.button(key=f"open_{number}").click().run()
    assert app.title[0].value == "案卷详情"
    assert app.query_params["n"] == number
