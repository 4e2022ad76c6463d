"""The case page: scope, what it shows, each action through its single form, conflicts, evidence, English."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from models.cases import Source
from models.db import utcnow
from tests.ui.case_support import citizen_reports, new_case, perform_as, stored
from tests.ui.support import console, texts
from ui.i18n import LOCAL_TZ


def open_case(url: str, monkeypatch: pytest.MonkeyPatch, username: str, number: str, lang: str = "zh") -> AppTest:
    app = console(url, monkeypatch, username, "case", lang=lang, query={"n": number})
    assert not app.exception
    return app


def table(app: AppTest, column: str, absent: str | None = None) -> pd.DataFrame:
    """The first table with `column` (and without `absent`): read-only tables carry no key in AppTest."""
    for frame in app.dataframe:
        columns = list(frame.value.columns)
        if column in columns and absent not in columns:
            return frame.value
    raise AssertionError(f"no table with {column}")


def choose(app: AppTest, action: str, note: str | None = None) -> None:
    app.selectbox(key="act_action").set_value(action).run()
    if note is not None:
        app.text_area(key="act_note").input(note)


def submit(app: AppTest) -> AppTest:
    app.button(key="act_submit").click().run()
    assert not app.exception
    return app


def test_a_case_outside_the_scope_reads_like_a_missing_one(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hedong = new_case(demo_url, "reviewer_village_hedong", description="河东的小广告")
    by_link = open_case(demo_url, monkeypatch, "reviewer_village", hedong)
    assert f"没有案卷 {hedong}" in [e.value for e in by_link.error]
    assert not by_link.header and not by_link.dataframe and "河东的小广告" not in texts(by_link)
    by_link.text_input(key="case_number").input("LY-19990101-0001").run()
    assert [e.value for e in by_link.error] == ["没有案卷 LY-19990101-0001"]  # the same words as for a real one
    typed = console(demo_url, monkeypatch, "reviewer_village", "case")
    typed.text_input(key="case_number").input(hedong).run()
    assert [e.value for e in typed.error] == [f"没有案卷 {hedong}"] and not typed.header
    assert typed.query_params["n"] == hedong
    dispatcher = open_case(demo_url, monkeypatch, "dispatcher_village", new_case(demo_url))  # not yet theirs
    assert dispatcher.error and not dispatcher.header
    own = open_case(demo_url, monkeypatch, "reviewer_village_hedong", hedong)
    assert own.header[0].value == hedong and "河东的小广告" in texts(own)


def test_register_shows_the_new_version_and_the_timeline(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    assert app.selectbox(key="act_action").options == ["立案", "上报", "不予立案", "合并", "派遣", "挂账"]
    assert "**版本**：1" in texts(app) and "审核时限" in texts(app)
    choose(app, "register", "情况属实")
    submit(app)
    case = stored(demo_url, number)
    assert case["registered"] and case["version"] == 2
    assert case["history"][-1] == ("register", "reviewer_village", "情况属实")
    assert f"已办理“立案”：{number}" in [s.value for s in app.success]
    timeline = table(app, "操作人")
    assert list(timeline["操作"]) == ["创建", "立案"] and list(timeline["操作人"]) == [
        "citizen:test",
        "reviewer_village",
    ]
    assert timeline.iloc[1]["说明"] == "情况属实" and "**版本**：2" in texts(app)
    assert app.text_area(key="act_note").value == ""  # the form is emptied after a success


def test_dispatch_to_a_unit_with_a_due_time_in_beijing_time(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "dispatch")
    unit = app.selectbox(key="act_unit")
    assert unit.options == ["兰山第一社区居民委员会 (VC-371302001001)"]  # only units inside the viewer's scope
    assert unit.value == "VC-371302001001"  # the routing default
    assert app.date_input(key="act_due_date").value is None  # empty: the rule's deadline
    day = (utcnow().astimezone(LOCAL_TZ) + timedelta(days=5)).date()
    app.date_input(key="act_due_date").set_value(day)
    app.time_input(key="act_due_time").set_value(time(17, 30))
    submit(app)
    case = stored(demo_url, number)
    assert (case["state"], case["unit"]) == ("dispatched", "VC-371302001001")
    assert case["rectify_due"] == datetime.combine(day, time(17, 30), tzinfo=LOCAL_TZ).astimezone(UTC)
    assert f"{day:%Y-%m-%d} 17:30" in texts(app) and "已派遣" in texts(app)
    assert "兰山第一社区居民委员会" in texts(app)


def test_escalate_hands_the_case_to_the_township(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "escalate", "涉及多个村")
    submit(app)
    case = stored(demo_url, number)
    assert (case["state"], case["tier"]) == ("reviewing", "township")
    assert "当前没有您可以执行的操作" in texts(app)
    assert "act_action" not in [s.key for s in app.selectbox]
    township = open_case(demo_url, monkeypatch, "reviewer_township", number)
    assert "派遣" in township.selectbox(key="act_action").options
    assert "乡镇级" in texts(township)


def test_reject_needs_a_reason(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "reject", "   ")
    assert app.text_area(key="act_note").label == "理由（必填）"
    submit(app)
    assert "“不予立案”须填写理由" in [e.value for e in app.error]
    assert stored(demo_url, number)["events"] == 1 and stored(demo_url, number)["state"] == "reviewing"
    app.text_area(key="act_note").input("广告已被撕除，不予立案")
    submit(app)
    case = stored(demo_url, number)
    assert case["state"] == "rejected" and case["history"][-1] == (
        "reject",
        "reviewer_village",
        "广告已被撕除，不予立案",
    )
    assert "不予立案" in texts(app)


def test_merge_into_a_nearby_duplicate(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    older = new_case(demo_url, hours_ago=0.5)
    newer = new_case(demo_url, description="同一处小广告，再次举报")
    new_case(demo_url, code="E0101", description="不同类别：不是合并对象")
    new_case(demo_url, "reviewer_village_hedong")  # same category, elsewhere
    app = open_case(demo_url, monkeypatch, "reviewer_village", newer)
    nearby = table(app, "距离（米）")
    assert list(nearby["案卷编号"]) == [older]
    choose(app, "merge")
    assert app.selectbox(key="act_target").value == older
    submit(app)
    assert stored(demo_url, newer)["state"] == "merged" and stored(demo_url, newer)["merged_into"] == older
    target = stored(demo_url, older)
    assert target["reporters"] == 2 and target["history"][-1][:2] == ("absorb", "reviewer_village")
    assert f"本案已合并到 {older}" in texts(app)
    after = open_case(demo_url, monkeypatch, "reviewer_village", older)
    assert list(table(after, "案卷编号", absent="距离（米）")["案卷编号"]) == [newer]


def test_merge_target_outside_the_scope_does_not_exist(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    hedong = new_case(demo_url, "reviewer_village_hedong")
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "merge")
    app.selectbox(key="act_target").set_value("__other__").run()
    app.text_input(key="act_target_other").input(hedong)
    submit(app)
    assert [e.value for e in app.error] == [f"没有案卷 {hedong}"]
    assert stored(demo_url, number)["state"] == "reviewing" and stored(demo_url, hedong)["reporters"] == 1


def test_extension_asked_by_the_unit_and_approved_by_the_reviewer(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = new_case(demo_url)
    perform_as(demo_url, number, "dispatch", "reviewer_village")
    unit = open_case(demo_url, monkeypatch, "dispatcher_village", number)
    assert unit.selectbox(key="act_action").options == ["签收", "退回", "申请延期", "处理反馈"]
    choose(unit, "request_extension", "需要采购材料")
    day: date = unit.date_input(key="act_due_date").value + timedelta(days=4)
    unit.date_input(key="act_due_date").set_value(day)
    unit.time_input(key="act_due_time").set_value(time(9, 0))
    submit(unit)
    asked = datetime.combine(day, time(9, 0), tzinfo=LOCAL_TZ).astimezone(UTC)
    assert stored(demo_url, number)["extension"] == asked
    reviewer = open_case(demo_url, monkeypatch, "reviewer_village", number)
    assert f"{day:%Y-%m-%d} 09:00" in texts(reviewer)
    choose(reviewer, "approve_extension")
    submit(reviewer)
    case = stored(demo_url, number)
    assert (case["rectify_due"], case["extension"]) == (asked, None)
    assert [a for a, _, _ in case["history"]][-2:] == ["request_extension", "approve_extension"]


def test_verify_pass_closes_a_rectified_case(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    perform_as(demo_url, number, "dispatch", "reviewer_village")
    perform_as(demo_url, number, "report_fixed", "dispatcher_village", note="已清除")
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    assert app.selectbox(key="act_action").options == ["核查结案", "核查不通过(返工)"]
    choose(app, "verify_pass", "现场已清理干净")
    submit(app)
    assert stored(demo_url, number)["state"] == "closed"
    assert "已结案" in texts(app) and "结案时间" in texts(app)


def test_someone_else_acted_first(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url)
    perform_as(demo_url, number, "dispatch", "reviewer_village")
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    assert "**版本**：2" in texts(app)
    choose(app, "park", "需协调资金，暂挂账")
    perform_as(demo_url, number, "acknowledge", "dispatcher_village")  # between render and submit
    submit(app)
    (message,) = [e.value for e in app.error]
    assert "已被修改" in message and "dispatcher_village acknowledge (v3)" in message
    case = stored(demo_url, number)
    assert (case["state"], case["version"]) == ("acknowledged", 3)  # the park was not written
    assert "**版本**：3" in texts(app) and ":blue-badge[已签收]" in texts(app)
    submit(app)  # the same form again, now against the version shown
    assert stored(demo_url, number)["state"] == "parked"


def test_linked_reports_never_show_a_reporters_phone(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = {"phone_sealed": "sealed-secret", "name_masked": "张*"}
    reporters = [{"phone_masked": "138****1234", **secret}, {"phone_masked": "139****5678", **secret}]
    (number,) = citizen_reports(demo_url, "reviewer_village", reporters, utcnow() - timedelta(minutes=5))
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    signals = table(app, "处理结果")
    assert list(signals["来源"]) == ["form", "form"] and list(signals["处理结果"]) == ["cased", "linked"]
    shown = texts(app) + signals.to_string() + table(app, "操作人").to_string()
    assert "**举报人数**：2" in texts(app)
    assert not any(hidden in shown for hidden in ("138****1234", "139****5678", "****", "sealed-secret", "张*"))


def test_evidence_processing_for_a_camera_case_without_evidence(
    demo_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    number = new_case(demo_url, source=Source.CAMERA, code="E0601", tier="village")
    app = console(demo_url, monkeypatch, "reviewer_village", "case", query={"n": number}, media_dir=str(tmp_path))
    assert "暂无证据" in texts(app)
    app.button(key="evidence_run").click().run()
    assert not app.exception
    assert "告警未提供录像或截图地址" in texts(app)
    assert app.status[0].label == "证据处理完成"
    assert stored(demo_url, number)["events"] == 1


def test_english(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url, hours_ago=3)
    app = open_case(demo_url, monkeypatch, "reviewer_village", number, lang="en")
    assert app.title[0].value == "Case detail"
    assert ":blue-badge[reviewing] :gray-badge[village] :red-badge[overdue]" in texts(app)
    assert "Illegal small advertisements" in texts(app) and "overdue " in texts(app)
    assert app.selectbox(key="act_action").options[:3] == ["register", "escalate", "reject"]
    assert list(table(app, "Actor").columns) == ["Time", "Action", "Actor", "State", "Note"]
    choose(app, "reject")
    assert app.text_area(key="act_note").label == "Reason (required)"
    submit(app)
    assert [e.value for e in app.error] == ["'reject' needs a reason"]
    app.sidebar.radio(key="lang").set_value("zh").run()
    assert app.title[0].value == "案卷详情" and app.selectbox(key="act_action").options[0] == "立案"


def test_park_unpark_refuse_an_extension_and_reopen(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reviewer's remaining actions, each through the page's one form, each written as the page said."""
    number = new_case(demo_url)
    perform_as(demo_url, number, "dispatch", "reviewer_village")
    due = stored(demo_url, number)["rectify_due"]
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "park", "需协调资金，暂挂账")
    submit(app)
    assert stored(demo_url, number)["state"] == "parked"
    choose(app, "unpark")
    submit(app)
    assert stored(demo_url, number)["state"] == "dispatched"
    perform_as(
        demo_url, number, "request_extension", "dispatcher_village", note="材料未到", due=due + timedelta(days=5)
    )
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    choose(app, "refuse_extension")
    submit(app)
    assert stored(demo_url, number)["extension"] is not None  # a refusal needs its reason: nothing written
    choose(app, "refuse_extension", "期限内可以完成")
    submit(app)
    refused = stored(demo_url, number)
    assert refused["extension"] is None and refused["rectify_due"] >= due
    assert refused["history"][-1] == ("refuse_extension", "reviewer_village", "期限内可以完成")
    perform_as(demo_url, number, "report_fixed", "dispatcher_village", note="已清除")
    perform_as(demo_url, number, "verify_pass", "reviewer_village")
    app = open_case(demo_url, monkeypatch, "reviewer_village", number)
    assert app.selectbox(key="act_action").options == ["重新办理"]
    choose(app, "reopen", "群众再次反映")
    submit(app)
    reopened = stored(demo_url, number)
    assert (reopened["state"], reopened["unit"]) == ("reviewing", None)
    assert [a for a, _, _ in reopened["history"]][-3:] == ["report_fixed", "verify_pass", "reopen"]
