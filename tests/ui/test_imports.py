"""The hotline import page: a GB18030 CSV made here goes through the same import as `xueliang import hotline`,
the accepted rows become cases, and the per-row report is shown and offered for download."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from integrations.hotline import import_hotline
from integrations.secrets import PhoneVault
from models.cases import Case, Signal
from models.db import Database
from tests.conftest import TEST_SECRET
from tests.ui.support import console, texts

LAT, LON = 35.078, 118.328997  # 兰山第一社区 (the demo village)
ROWS = [
    ["工单编号", "来电时间", "来电号码", "诉求内容", "问题分类", "事发地址", "经度", "纬度"],
    [
        "HL-UI-001",
        "2026-11-25 09:30",
        "13800138000",
        "路口堆放生活垃圾三天无人清理",
        "E0101",
        "兰山街道",
        str(LON),
        str(LAT),
    ],
    [
        "HL-UI-002",
        "2026/11/25 10:05",
        "0539-8123456",
        "电线杆上贴满小广告",
        "非法小广告",
        "兰山街道兰山第一社区幸福路12号",
        "",
        "",
    ],
    ["HL-UI-003", "2026-11-25 10:20", "13800138000", "有人乱扔烟头", "乱扔烟头", "兰山街道", "", ""],
    ["HL-UI-001", "2026-11-25 09:31", "13800138000", "再次反映：垃圾未清理", "E0101", "兰山街道", "", ""],
]


def gb18030_csv() -> bytes:
    return "\r\n".join(",".join(row) for row in ROWS).encode("gb18030")


def counts(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        with db.read() as session:
            signals = session.scalar(select(func.count()).select_from(Signal).where(Signal.source == "hotline"))
            cases = session.scalar(select(func.count()).select_from(Case).where(Case.source == "hotline"))
    finally:
        db.dispose()
    return int(signals or 0), int(cases or 0)


def test_import_page_imports_a_gb18030_csv_opens_cases_and_reports_each_row(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(demo_url, monkeypatch, "reviewer_city", "imports")
    assert not app.exception
    assert app.title[0].value == "热线工单导入"
    assert counts(demo_url) == (0, 0)
    app.file_uploader(key="imports_file").set_value(("12345工单.csv", gb18030_csv(), "text/csv")).run()
    app.button(key="imports_run").click().run()
    assert not app.exception, app.exception

    assert counts(demo_url) == (2, 2)
    table = app.dataframe[0].value
    assert table["工单编号"].tolist() == ["HL-UI-001", "HL-UI-002", "HL-UI-003", "HL-UI-001"]
    assert table["结果"].tolist() == ["已接收", "已接收", "拒收", "重复"]
    assert table["原因"].tolist()[2:] == ["未知问题分类“乱扔烟头”", "与本文件第 2 行重复"]
    assert all(number.startswith("LY-") for number in table["案卷"].tolist()[:2])
    assert [m.value for m in app.metric] == ["4", "2", "1", "1"]
    shown = texts(app)
    assert "编码 gb18030；新立案卷 2 件" in shown and "13800138000" not in shown
    (status,) = app.status
    assert (status.label, status.state) == ("12345工单.csv 导入完成", "complete")
    assert app.download_button(key="imports_download").label == "下载导入报告 (CSV)"

    app.button(key="imports_run").click().run()  # the same file again: nothing new
    assert counts(demo_url) == (2, 2)
    assert app.dataframe[0].value["结果"].tolist() == ["重复", "重复", "拒收", "重复"]
    assert "新立案卷 0 件" in texts(app)


def test_import_page_refuses_a_file_without_a_header_and_writes_nothing(
    demo_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = console(demo_url, monkeypatch, "admin", "imports")
    app.file_uploader(key="imports_file").set_value(("notes.csv", "随便写的一行字\n".encode("gb18030"), "text/csv"))
    app.run()
    app.button(key="imports_run").click().run()
    assert not app.exception
    assert "没有可识别的表头" in texts(app)
    assert counts(demo_url) == (0, 0) and not app.dataframe


def test_the_import_reports_its_progress_to_the_page(demo_url: str, tmp_path: Path) -> None:
    """The optional callback the page draws its progress bar from: every data row checked, then the writes."""
    path = tmp_path / "hotline.csv"
    path.write_bytes(gb18030_csv())
    calls: list[tuple[str, int, int]] = []
    db = Database(demo_url)
    try:
        report = import_hotline(db, path, PhoneVault(TEST_SECRET), progress=lambda *call: calls.append(call))
    finally:
        db.dispose()
    assert report.accepted == 2
    assert [c for c in calls if c[0] == "check"] == [("check", n, 4) for n in range(1, 5)]
    assert [c for c in calls if c[0] == "write"] == [("write", 0, 2), ("write", 2, 2)]
