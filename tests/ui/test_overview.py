"""The console's overview page (until the console issue lands): Chinese first, English on request, figures
and the latest cases read through models/ views."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from models.commands import get_user, patrol_case
from models.db import Database
from tests.conftest import ROOT


def test_overview_in_chinese_and_english(demo_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XUELIANG_DATABASE_URL", demo_url)
    db = Database(demo_url)
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        patrol_case(s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="小广告")
    db.dispose()
    app = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=30).run()
    assert not app.exception
    assert app.title[0].value == "雪亮 · 案卷总览"
    assert {m.label: m.value for m in app.metric}["案卷总数"] == "1"
    assert len(app.dataframe) == 1
    app.sidebar.radio[0].set_value("en").run()
    assert app.title[0].value == "Xueliang · overview"
