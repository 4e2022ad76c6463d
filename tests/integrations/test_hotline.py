"""12345 hotline import: CSV (UTF-8 with BOM, GB18030) and XLSX, one signal per accepted row, a per-row report,
idempotent re-import, placement by address, and no plain phone number in the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from integrations.hotline import (
    ACCEPTED,
    DUPLICATE,
    REFUSED,
    HotlineReport,
    format_report,
    import_hotline,
)
from integrations.secrets import PhoneVault
from models import seed_data as data
from models.cases import Case, Signal
from models.db import Database
from models.intake import process_batch

VAULT = PhoneVault("test-secret-key-not-for-production")
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LAT, LON = 35.078, 118.328997  # 兰山第一社区 (the demo village)
MOBILE = "13800138000"
LANDLINE = "0539-8123456"
# fmt: off
HEADER = ["工单编号", "来电时间", "来电号码", "诉求内容", "问题分类", "事发地址", "经度", "纬度",
          "所属区县", "所属街道"]
TITLE = ["临沂市12345政务服务便民热线工单导出（2026年11月）"]
LANSHAN = "临沂市兰山区兰山街道兰山第一社区幸福路12号"

# [ticket, time, phone, description, category, address, lon, lat, district, township], outcome, reason
ROWS: list[tuple[list[str], str, str | None]] = [
    (["HL20261125001", "2026-11-25 09:30:00", MOBILE, "路口堆放生活垃圾三天无人清理", "E0101",
      "兰山街道金五路与沂州路路口", str(LON), str(LAT), "兰山区", "兰山街道"], ACCEPTED, None),
    (["HL20261125002", "2026/11/25 10:05", LANDLINE, "电线杆上贴满小广告", "非法小广告", LANSHAN, "", "", "兰山区", ""],
     ACCEPTED, None),
    (["", "2026-11-25 10:10", MOBILE, "路灯不亮", "C0102", "兰山街道", "", "", "", ""], REFUSED, "missing ticket id"),
    (["HL20261125004", "2026-11-25 10:20", MOBILE, "有人乱扔烟头", "乱扔烟头", "兰山街道", "", "", "", ""],
     REFUSED, 'unknown category "乱扔烟头"'),
    (["HL20261125005", "2026-11-25 10:30", MOBILE, "井盖丢失", "C0101", "", "东经118", "35.07", "", ""],
     REFUSED, "bad coordinates"),
    (["HL20261125006", "2026-11-25 10:40", "12345", "井盖丢失", "C0101", "兰山街道", "", "", "", ""],
     REFUSED, "bad phone"),
    (["HL20261125007", "2026-11-25 10:50", MOBILE, "  ", "C0101", "兰山街道", "", "", "", ""],
     REFUSED, "empty description"),
    (["HL20261125008", "2026-11-25 11:00", MOBILE, "占道经营", "E0503", "", "", "", "", ""], REFUSED, "no location"),
    (["HL20261125001", "2026-11-25 09:31", MOBILE, "再次反映：垃圾未清理", "E0101", "兰山街道", "", "", "", ""],
     DUPLICATE, "duplicate of row 3 in this file"),
    (["HL20261125010", "", "", "早市摊贩占道经营", "街面秩序/占道经营", "", "", "", "", "九曲街道"], ACCEPTED, None),
    (["HL20261125011", "2026-11-25 11:20", MOBILE, "井盖丢失", "C0101", "上海市", "121.47", "31.23", "", ""],
     REFUSED, "outside the jurisdiction"),
    (["HL20261125012", "昨天下午", MOBILE, "井盖丢失", "C0101", "兰山街道", "", "", "", ""],
     REFUSED, 'bad time "昨天下午"'),
]
# fmt: on
FIRST_DATA_ROW = 3  # title row, header row


def write_csv(path: Path, encoding: str, rows: list[list[str]] | None = None, header: list[str] = HEADER) -> Path:
    lines = [TITLE, header, *(rows if rows is not None else [r for r, _, _ in ROWS]), []]
    text = "\r\n".join(",".join(f'"{c}"' if "," in c else c for c in line) for line in lines)
    path.write_bytes(text.encode(encoding))
    return path


def outcomes(report: HotlineReport) -> list[tuple[int, str | None, str, str | None]]:
    return [(r.row, r.ticket, r.outcome, r.reason) for r in report.rows]


def expected_outcomes() -> list[tuple[int, str | None, str, str | None]]:
    return [(FIRST_DATA_ROW + i, cells[0] or None, outcome, reason) for i, (cells, outcome, reason) in enumerate(ROWS)]


def signals(demo: Database) -> list[Signal]:
    with demo.read() as s:
        return list(s.execute(select(Signal).order_by(Signal.id)).scalars())


def assert_no_plain_phone(demo: Database) -> None:
    with demo.read() as s:
        rows = s.execute(select(Signal.fields, Signal.raw, Signal.content_type)).all()
    assert rows
    for fields, raw, content_type in rows:
        text = json.dumps(fields, ensure_ascii=False)
        for secret in (MOBILE, "8613800138000", "8123456"):
            assert secret not in text and secret.encode() not in raw
        assert content_type == "sealed;application/json"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_csv_import_reports_every_row(demo: Database, tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / f"12345-{encoding}.csv", encoding)
    report = import_hotline(demo, path, VAULT, now=NOW)
    assert report.kind == "csv" and report.header_row == 2
    assert report.encoding == ("utf-8-sig" if encoding == "utf-8-sig" else "gb18030")
    assert outcomes(report) == expected_outcomes()
    assert (report.accepted, report.duplicates, report.refused) == (3, 1, 8)

    stored = signals(demo)
    assert [s.idempotency_key for s in stored] == [
        "hotline:HL20261125001",
        "hotline:HL20261125002",
        "hotline:HL20261125010",
    ]
    first, by_address, by_township = (s.fields for s in stored)
    assert stored[0].source == "hotline" and stored[0].type == "citizen_report" and stored[0].state == "active"
    assert stored[0].time == datetime(2026, 11, 25, 1, 30, tzinfo=UTC) and stored[0].time_flagged is False
    assert stored[0].received_at == NOW
    assert (first["category"], first["lat"], first["lon"], first["unit"]) == ("E0101", LAT, LON, None)
    assert first["description"] == "路口堆放生活垃圾三天无人清理"
    assert first["reporter"]["phone_masked"] == "+86 138****8000"
    assert VAULT.open(first["reporter"]["phone_sealed"]) == "+8613800138000"
    assert by_address["category"] == "E0201" and by_address["lat"] is None
    assert by_address["unit"] == data.DEMO_VILLAGE  # 兰山第一社区 beats 兰山街道: the longest name wins
    assert by_address["address"] == LANSHAN
    assert VAULT.open(by_address["reporter"]["phone_sealed"]) == "+865398123456"  # a landline, in E.164
    assert by_township["category"] == "E0503" and by_township["unit"] == data.HEDONG_TOWNSHIP
    assert stored[2].time_flagged is True  # no time in the row: received time, flagged
    raw = json.loads(VAULT.open_bytes(stored[0].raw))
    assert raw["row"] == FIRST_DATA_ROW and raw["cells"]["来电号码"] == MOBILE
    assert_no_plain_phone(demo)

    # Importing the same file again creates nothing; accepted rows now say "already imported".
    again = import_hotline(demo, path, VAULT, now=NOW)
    assert len(signals(demo)) == 3
    assert [r.outcome for r in again.rows if r.ticket in {"HL20261125001", "HL20261125002", "HL20261125010"}] == [
        DUPLICATE
    ] * 4
    assert again.rows[0].reason == f"already imported (signal {stored[0].id})"
    assert again.accepted == 0 and again.refused == 8

    # The intake places them: by coordinates, by the village named in the address, by the township column.
    with demo.write() as s:
        intake = process_batch(s, now=NOW)
    assert len(intake.cases) == 3
    with demo.read() as s:
        cases = {c.number: c for c in s.execute(select(Case)).scalars()}
        placed = {c.description: (c.source, c.unit.code) for c in cases.values()}
    assert placed["电线杆上贴满小广告"] == ("hotline", data.DEMO_VILLAGE)
    assert placed["早市摊贩占道经营"][1].startswith(data.HEDONG_TOWNSHIP[:9])
    assert placed["路口堆放生活垃圾三天无人清理"][0] == "hotline"


def test_xlsx_import_with_english_headers(demo: Database, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["ticket_id", "time", "phone", "description", "category", "address", "lon", "lat"])
    sheet.append([20261125001, datetime(2026, 11, 25, 9, 30), 13800138000, "非机动车乱停放", "E0502", None, LON, LAT])
    sheet.append([20261125002, "2026-11-25T10:00:00+08:00", None, "广告牌破损", "e0202", "兰山第二社区", None, None])
    sheet.append([None, None, None, None, None, None, None, None])  # an empty row is skipped, not reported
    sheet.append([20261125003, datetime(2026, 11, 25, 10, 0), "138****8000", "路面塌陷", "路面塌陷", None, 200.5, LAT])
    sheet.append(
        [20261125004, datetime(2026, 11, 25, 10, 0), "138****8000", "道路积水", "E0401", "兰山第三社区", None, None]
    )
    path = tmp_path / "12345.xlsx"
    book.save(path)

    report = import_hotline(demo, path, VAULT, now=NOW)
    assert report.kind == "xlsx" and report.encoding is None and report.header_row == 1
    assert outcomes(report) == [
        (2, "20261125001", ACCEPTED, None),
        (3, "20261125002", ACCEPTED, None),
        (5, "20261125003", REFUSED, "bad coordinates"),
        (6, "20261125004", ACCEPTED, None),
    ]
    stored = signals(demo)
    assert [s.idempotency_key for s in stored] == [
        "hotline:20261125001",
        "hotline:20261125002",
        "hotline:20261125004",
    ]
    assert stored[0].time == datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    assert stored[0].fields["reporter"]["phone_masked"] == "+86 138****8000"
    assert stored[1].fields["category"] == "E0202" and stored[1].fields["unit"] == "371302001002"
    assert stored[1].time == datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    # a number the exporting system had already masked is kept as its mask, nothing to seal
    assert stored[2].fields["reporter"] == {
        "phone_sealed": None,
        "phone_masked": "138****8000",
        "phone_digest": None,
        "name_masked": None,
        "email_masked": None,
    }
    assert_no_plain_phone(demo)
    assert import_hotline(demo, path, VAULT, now=NOW).duplicates == 3


def test_files_that_are_not_hotline_exports_are_refused_clearly(demo: Database, tmp_path: Path) -> None:
    png = tmp_path / "photo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(ValueError, match="neither"):
        import_hotline(demo, png, VAULT)

    fake = tmp_path / "export.xlsx"
    fake.write_text("工单编号,诉求内容\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a valid XLSX"):
        import_hotline(demo, fake, VAULT)

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(ValueError, match="not a valid XLSX"):
        import_hotline(demo, broken, VAULT)

    other = write_csv(tmp_path / "other.csv", "utf-8", rows=[["1", "2"]], header=["name", "value"])
    with pytest.raises(ValueError, match="no recognisable header"):
        import_hotline(demo, other, VAULT)

    lacking = write_csv(tmp_path / "lacking.csv", "utf-8", rows=[["HL1", "垃圾"]], header=["工单编号", "诉求内容"])
    with pytest.raises(ValueError, match="category"):
        import_hotline(demo, lacking, VAULT)

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        import_hotline(demo, empty, VAULT)
    assert signals(demo) == []


def test_the_text_report_is_a_per_row_table(demo: Database, tmp_path: Path) -> None:
    report = import_hotline(demo, write_csv(tmp_path / "12345.csv", "utf-8-sig"), VAULT, now=NOW)
    text = format_report(report)
    lines = text.splitlines()
    assert lines[1].startswith("行号 Row") and "工单编号 Ticket" in lines[1] and "原因 Reason" in lines[1]
    body = lines[3:-1]
    assert len(body) == len(ROWS)
    assert body[0].split()[0] == "3" and "HL20261125001" in body[0] and "已接收 accepted" in body[0]
    assert (
        "拒收 refused" in body[3] and "未知问题分类“乱扔烟头”" in body[3] and 'unknown category "乱扔烟头"' in body[3]
    )
    assert "重复 duplicate" in body[8]
    assert lines[-1].startswith("共 12 行：接收 3，重复 1，拒收 8")
    assert MOBILE not in text
