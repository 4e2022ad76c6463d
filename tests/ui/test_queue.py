"""The reviewer's queue page: scope and tier, order, counters, filters, opening a case, English."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from models.cases import Source
from tests.ui.case_support import in_days, new_case, perform_as
from tests.ui.support import console, texts


def numbers(app: AppTest) -> list[str]:
    return list(app.dataframe(key="queue_table").value.iloc[:, 0])


def counters(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_each_reviewer_sees_only_their_tier_and_unit(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lanshan = new_case(demo_url)
    hedong = new_case(demo_url, "reviewer_village_hedong")
    township = new_case(demo_url, tier="township", description="跨村的占道经营")
    village = console(demo_url, monkeypatch, "reviewer_village", "queue")
    assert not village.exception
    assert numbers(village) == [lanshan]
    assert counters(village)["待审核"] == "1"
    other_village = console(demo_url, monkeypatch, "reviewer_village_hedong", "queue")
    assert numbers(other_village) == [hedong]
    # the township case lies inside the village but is reviewed by the township centre
    assert numbers(console(demo_url, monkeypatch, "reviewer_township", "queue")) == [township]
    assert lanshan not in texts(other_village) and township not in str(village.dataframe[0].value)


def test_overdue_first_then_nearest_deadline_and_the_counters(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = new_case(demo_url)
    late = new_case(demo_url, hours_ago=3)
    extension = new_case(demo_url, hours_ago=1)
    perform_as(demo_url, extension, "dispatch", "reviewer_village")
    perform_as(demo_url, extension, "acknowledge", "dispatcher_village")
    perform_as(demo_url, extension, "request_extension", "dispatcher_village", note="需要采购材料", due=in_days(10))
    fixed = new_case(demo_url, hours_ago=2)
    perform_as(demo_url, fixed, "dispatch", "reviewer_village")
    perform_as(demo_url, fixed, "report_fixed", "dispatcher_village", note="已清理")
    dispatched = new_case(demo_url)
    perform_as(demo_url, dispatched, "dispatch", "reviewer_village")  # the unit's turn: not in the queue

    app = console(demo_url, monkeypatch, "reviewer_village", "queue")
    assert not app.exception
    frame = app.dataframe(key="queue_table").value
    assert list(frame["案卷编号"]) == [late, fresh, extension, fixed]
    first = frame.iloc[0]
    assert first["超期"] == "⚠ 超期" and first["时限"].startswith("超期 ")
    assert frame.iloc[1]["超期"] == "" and frame.iloc[1]["时限"].startswith("剩余 ")
    assert frame.iloc[2]["状态"].startswith("已签收 · 申请延期至 ")
    assert frame.iloc[3]["状态"] == "已整改待核查" and frame.iloc[3]["时限"] == "—"
    assert counters(app) == {
        "待审核": "2",
        "即将超期（2小时内）": "1",
        "已超期": "1",
        "待审批延期": "1",
        "待核查": "1",
    }


def test_filters_and_search_by_number(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    citizen = new_case(demo_url)
    patrol = new_case(demo_url, source=Source.PATROL, code="E0101", description="垃圾堆放")
    app = console(demo_url, monkeypatch, "reviewer_village", "queue")
    assert sorted(numbers(app)) == sorted([citizen, patrol])
    app.selectbox(key="queue_source").set_value("patrol").run()
    assert numbers(app) == [patrol]
    app.selectbox(key="queue_source").set_value(None)
    app.selectbox(key="queue_category").set_value("E0201").run()
    assert numbers(app) == [citizen]
    app.selectbox(key="queue_category").set_value(None)
    app.text_input(key="queue_search").input(patrol[-4:]).run()
    assert numbers(app) == [patrol]
    app.selectbox(key="queue_state").set_value("rectified").run()
    assert "队列中没有符合条件的案卷" in texts(app)
    assert counters(app)["待审核"] == "2"  # the counters are of the whole queue


def test_opening_a_case_from_the_queue(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    first = new_case(demo_url, hours_ago=0.5)
    second = new_case(demo_url)
    app = console(demo_url, monkeypatch, "reviewer_village", "queue")
    assert app.selectbox(key="queue_pick").options == [first, second]
    app.selectbox(key="queue_pick").set_value(second)
    app.button(key="queue_open").click().run()
    assert not app.exception
    assert app.title[0].value == "案卷详情"
    assert app.query_params["n"] == second
    assert app.header[0].value == second
    assert app.text_input(key="case_number").value == second


def test_english(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    number = new_case(demo_url, hours_ago=3)
    app = console(demo_url, monkeypatch, "reviewer_village", "queue", lang="en")
    assert app.title[0].value == "Review queue"
    row = app.dataframe(key="queue_table").value.iloc[0]
    assert (row["Number"], row["State"], row["Tier"], row["Source"]) == (
        number,
        "reviewing",
        "village",
        "citizen report",
    )
    assert row["Category"] == "Illegal small advertisements" and row["Deadline"].startswith("overdue ")
    assert counters(app)["Overdue"] == "1"
    app.sidebar.radio(key="lang").set_value("zh").run()
    assert app.title[0].value == "审核队列" and counters(app)["已超期"] == "1"
