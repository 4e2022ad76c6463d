"""The statistics page (统计分析): the leader's figures match models.stats, every tab renders, English works, a
village reviewer sees only her village, and the weekly bulletin is made as XLSX and PDF."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from models.commands import get_user
from models.db import Database, utcnow
from models.scope import scope_path
from models.stats import statistics
from tests.models.stats_support import add_known_cases
from tests.ui.support import console, texts

NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
# the page's tables, in the order of its tabs
PLACES, CATEGORIES, TOWNSHIPS_TOP, TOWNSHIPS_BOTTOM, UNITS_TOP, UNITS_BOTTOM = range(6)


def november(app: AppTest) -> AppTest:
    """The page for the custom period 2026-11-01 … 2026-11-30, which holds the hand-made cases."""
    app.session_state["dash_period"] = "custom"
    app.session_state["dash_dates"] = NOVEMBER
    app.run()
    assert not app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def expected(db_url: str, username: str) -> dict:
    db = Database(db_url)
    with db.read() as s:
        path = scope_path(get_user(s, username))
        figures = statistics(s, date_from=NOVEMBER[0], date_to=NOVEMBER[1], as_of=utcnow(), unit_path=path)
    db.dispose()
    return figures


def test_leader_sees_the_models_figures_in_every_tab(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    add_known_cases(db)
    db.dispose()
    app = november(console(demo_url, monkeypatch, "leader"))
    assert app.title[0].value == "统计分析"
    figures = expected(demo_url, "leader")
    assert metrics(app) == {
        "结案率": f"{figures['closure_rate']:.1%}",
        "按期结案率": f"{figures['on_time_closure_rate']:.1%}",
        "平均处置时长": f"{figures['avg_handling_hours']:.1f} 小时",
        "超期": str(figures["overdue"]),
        "返工": str(figures["rework"]),
        "案卷总数": str(figures["counts"]["total"]),
    }
    assert metrics(app)["结案率"] == "80.0%" and metrics(app)["案卷总数"] == "6"
    assert [t.label for t in app.tabs] == ["按区划", "按类别", "排名", "趋势", "地图", "周报导出"]
    places = app.dataframe[PLACES].value
    assert places["乡镇/街道"].tolist() == ["兰山街道", "九曲街道"]
    assert places["案卷数"].tolist() == [5, 1] and places["结案率 %"].tolist() == [75.0, 100.0]
    app.radio(key="dash_level").set_value("village").run()
    villages = app.dataframe[PLACES].value
    assert villages["村/社区"].tolist() == ["兰山第一社区", "兰山第二社区", "中兴社区"]
    assert villages["超期"].tolist() == [0, 1, 0]
    categories = app.dataframe[CATEGORIES].value
    assert categories["案卷数"].tolist() == [4, 2]
    assert app.dataframe[TOWNSHIPS_TOP].value["乡镇/街道"].tolist() == ["九曲街道", "兰山街道"]
    assert app.dataframe[UNITS_BOTTOM].value["责任单位"].tolist()[0] == "兰山第二社区居民委员会"
    charts = app.get("vega_lite_chart")
    assert len(charts) == 3  # opened/closed, rates, map
    assert "mercator" in charts[2].proto.spec and b"T-3" in charts[2].proto.SerializeToString()
    assert "当前未结案卷 2 件" in texts(app)


def test_dashboard_in_english(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    add_known_cases(db)
    db.dispose()
    app = november(console(demo_url, monkeypatch, "leader", lang="en"))
    assert app.title[0].value == "Statistics"
    shown = metrics(app)
    assert shown["Closure rate"] == "80.0%" and shown["Avg handling time"] == "40.0 h" and shown["Cases"] == "6"
    assert [t.label for t in app.tabs][:3] == ["By place", "By category", "Rankings"]
    assert app.dataframe[PLACES].value["Township"].tolist() == ["Lanshan Subdistrict", "Jiuqu Subdistrict"]


def test_village_reviewer_sees_only_her_village(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(demo_url)
    add_known_cases(db)
    db.dispose()
    app = november(console(demo_url, monkeypatch, "reviewer_village", page="dashboard"))
    figures = expected(demo_url, "reviewer_village")
    assert figures["counts"]["total"] == 3
    shown = metrics(app)
    assert shown["案卷总数"] == "3" and shown["结案率"] == "100.0%" and shown["按期结案率"] == "66.7%"
    assert shown["超期"] == "0"
    places = app.dataframe[PLACES].value
    assert places["乡镇/街道"].tolist() == ["兰山街道"] and places["案卷数"].tolist() == [3]
    assert "当前未结案卷 0 件" in texts(app)


def test_bulletin_exports_are_made_on_request(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = console(demo_url, monkeypatch, "leader")
    assert "dash_bulletins" not in app.session_state or not app.session_state["dash_bulletins"]
    app.button(key="dash_make_pdf").click().run()
    app.button(key="dash_make_xlsx").click().run()
    assert not app.exception
    made = app.session_state["dash_bulletins"]
    assert made["pdf"][0].endswith(".pdf") and made["pdf"][1].startswith(b"%PDF")
    assert made["xlsx"][0].endswith(".xlsx") and made["xlsx"][1].startswith(b"PK")
    assert app.get("download_button")
