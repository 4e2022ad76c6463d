"""The weekly bulletin as XLSX and PDF (Chinese text in the PDF through the STSong-Light CID font), limited to a
scope when asked, and written side by side by the stats flow on Mondays."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook

from flows.stats import run_stats
from integrations.bulletin import weekly_bulletin, weekly_bulletin_pdf
from models.commands import get_user
from models.db import Database
from models.scope import scope_path
from tests.models.stats_support import add_known_cases, local

WEEK_45 = date(2026, 11, 2)  # T-1, T-2 and T-3 were opened that week
STRING = re.compile(rb"\((?:[^()\\]|\\.)*\)\s*Tj", re.DOTALL)


def _unescape(literal: bytes) -> bytes:
    """A PDF literal string's bytes (octal and backslash escapes undone)."""
    out = bytearray()
    i = 0
    while i < len(literal):
        byte = literal[i]
        if byte != 0x5C:
            out.append(byte)
            i += 1
            continue
        following = literal[i + 1 : i + 4]
        octal = re.match(rb"[0-7]{1,3}", following)
        if octal:
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
        else:
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(following[:1], following[:1])
            i += 2
    return bytes(out)


def pdf_text(data: bytes) -> str:
    """The text drawn with the CID font (UCS-2 big-endian strings) on every page, one line per string."""
    lines = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.DOTALL):
        stream = stream.strip()
        if stream.endswith(b"~>"):  # reportlab's default filters: ASCII85, then Flate
            stream = base64.a85decode(stream[:-2], ignorechars=b" \t\r\n")
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            content = stream
        for shown in STRING.findall(content):
            raw = _unescape(shown[1 : shown.rindex(b")")])
            if len(raw) % 2 == 0:
                lines.append(raw.decode("utf-16-be", errors="replace"))
    return "\n".join(lines)


def test_xlsx_and_pdf_hold_the_same_bulletin(demo: Database, tmp_path: Path) -> None:
    add_known_cases(demo)
    xlsx = weekly_bulletin(demo, WEEK_45, tmp_path / "week.xlsx")
    pdf = weekly_bulletin_pdf(demo, WEEK_45, tmp_path / "week.pdf")
    assert xlsx["cases"] == pdf["cases"] == 3 and xlsx["week"] == pdf["week"] == "2026-W45"
    book = load_workbook(tmp_path / "week.xlsx")
    title = book["概况"]["A1"].value
    assert title == "雪亮工程 案卷办理周报 2026年第45周（11月02日—11月08日）"
    data = (tmp_path / "week.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/STSong-Light" in data and b"/UniGB-UCS2-H" in data
    text = pdf_text(data)
    assert title in text
    for shown in ("概况", "案卷总数", "结案率", "责任单位排名", "兰山街道办事处", "兰山第二社区居民委员会", "问题类别"):
        assert shown in text
    units = [row for row in book["责任单位排名"].iter_rows(values_only=True)][1:]
    assert all(str(row[1]) in text for row in units)


def test_a_scoped_bulletin_counts_only_that_unit(demo: Database, tmp_path: Path) -> None:
    add_known_cases(demo)
    with demo.read() as s:
        path = scope_path(get_user(s, "reviewer_village"))
    info = weekly_bulletin_pdf(demo, WEEK_45, tmp_path / "mine.pdf", unit_path=path, scope_name="兰山第一社区")
    assert info["cases"] == 2
    text = pdf_text((tmp_path / "mine.pdf").read_bytes())
    assert "雪亮工程 兰山第一社区 案卷办理周报 2026年第45周" in text
    assert "兰山第二社区居民委员会" not in text


def test_monday_stats_run_writes_the_pdf_next_to_the_xlsx(demo: Database, tmp_path: Path) -> None:
    add_known_cases(demo)
    monday = local(9, 10).astimezone(datetime.now().astimezone().tzinfo)
    result = run_stats(demo, str(tmp_path), now=monday)
    xlsx = Path(result["bulletin"]["path"])  # type: ignore[index]
    pdf = Path(str(result["bulletin_pdf"]))
    assert xlsx.name == "bulletin-2026-W45.xlsx" and pdf == xlsx.with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF-") and "2026年第45周" in pdf_text(pdf.read_bytes())
