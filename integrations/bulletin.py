"""The weekly bulletin (周报) for leadership, as an XLSX workbook and as a PDF: headline figures, then rankings by
responsible unit and by category, in Chinese. Both are made from the same figures (`bulletin_figures`).

The PDF uses reportlab's built-in CID font STSong-Light (Adobe's Chinese Simplified font pack, which every PDF
reader supplies or substitutes), so no TrueType file has to be found or embedded; Noto CJK, the CJK font Debian
ships, is OpenType with PostScript outlines, which reportlab cannot embed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from models.db import Database
from models.stats import statistics

Progress = Callable[[float, str], None]
PDF_FONT = "STSong-Light"
HEADER = ["排名", "名称", "代码", "案卷数", "应结案", "已结案", "结案率", "按期结案率", "超期", "返工"]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _quiet(fraction: float, message: str) -> None:
    """No progress reporting."""


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def bulletin_figures(
    db: Database, monday: date, unit_path: str | None = None, scope_name: str | None = None
) -> dict[str, Any]:
    """Everything a bulletin shows, for the week starting `monday`, limited to `unit_path` when given."""
    sunday = monday + timedelta(days=6)
    window: dict[str, Any] = {"date_from": monday, "date_to": sunday, "unit_path": unit_path}
    with db.read() as session:
        overall = statistics(session, **window)
        by_unit = statistics(session, by="unit", **window)["by"]
        by_category = statistics(session, by="category", **window)["by"]
    iso = monday.isocalendar()
    counts = overall["counts"]
    headline = [
        ("案卷总数", counts["total"]),
        ("应结案数", counts["due"]),
        ("已结案数", counts["closed"]),
        ("结案率", _pct(overall["closure_rate"])),
        ("按期结案率", _pct(overall["on_time_closure_rate"])),
        ("平均处置时长（小时）", overall["avg_handling_hours"] or "—"),
        ("超期案卷", overall["overdue"]),
        ("返工次数", overall["rework"]),
        ("督办案卷", counts["supervised"]),
    ]
    tables = []
    for title, rows in (("责任单位排名", by_unit), ("问题类别", by_category)):
        ranked = sorted(rows, key=lambda r: (-(r["on_time_closure_rate"] or 0), -r["counts"]["total"]))
        tables.append(
            (
                title,
                [
                    [
                        rank,
                        row["name"] or "（未派遣）",
                        row["key"],
                        row["counts"]["total"],
                        row["counts"]["due"],
                        row["counts"]["closed"],
                        _pct(row["closure_rate"]),
                        _pct(row["on_time_closure_rate"]),
                        row["overdue"],
                        row["rework"],
                    ]
                    for rank, row in enumerate(ranked, start=1)
                ],
            )
        )
    scope = f"{scope_name} " if scope_name else ""
    return {
        "title": f"雪亮工程 {scope}案卷办理周报 {iso.year}年第{iso.week}周（{monday:%m月%d日}—{sunday:%m月%d日}）",
        "week": f"{iso.year}-W{iso.week:02d}",
        "cases": counts["total"],
        "headline": headline,
        "tables": tables,
    }


def bulletin_name(monday: date, suffix: str) -> str:
    iso = monday.isocalendar()
    return f"bulletin-{iso.year}-W{iso.week:02d}.{suffix}"


def weekly_bulletin(
    db: Database,
    monday: date,
    out: Path,
    unit_path: str | None = None,
    scope_name: str | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """The bulletin as an XLSX workbook at `out`: a 概况 sheet, then one sheet per ranking."""
    progress(0.1, "统计")
    figures = bulletin_figures(db, monday, unit_path, scope_name)
    progress(0.6, "写入 XLSX")
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "概况"
    sheet.append([figures["title"]])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, value in figures["headline"]:
        sheet.append([label, value])
    for title, rows in figures["tables"]:
        tab = book.create_sheet(title)
        tab.append(HEADER)
        for cell in tab[1]:
            cell.font = Font(bold=True)
        for row in rows:
            tab.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    progress(1.0, "完成")
    return {"week": figures["week"], "path": str(out), "cases": figures["cases"]}


def _register_font() -> None:
    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))


def weekly_bulletin_pdf(
    db: Database,
    monday: date,
    out: Path,
    unit_path: str | None = None,
    scope_name: str | None = None,
    progress: Progress = _quiet,
) -> dict[str, Any]:
    """The same bulletin as an A4 PDF: title, headline table, then the rankings (long tables continue onto
    further pages with their header repeated)."""
    progress(0.1, "统计")
    figures = bulletin_figures(db, monday, unit_path, scope_name)
    progress(0.5, "排版 PDF")
    _register_font()
    title_style = ParagraphStyle("title", fontName=PDF_FONT, fontSize=15, leading=20, wordWrap="CJK")
    heading = ParagraphStyle("heading", fontName=PDF_FONT, fontSize=12, leading=16, spaceBefore=6, spaceAfter=4)
    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), PDF_FONT),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
    )
    ranked = TableStyle([("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7"))])
    story: list[Any] = [
        Paragraph(figures["title"], title_style),
        Spacer(1, 4 * mm),
        Paragraph("概况", heading),
    ]
    summary = Table([[label, str(value)] for label, value in figures["headline"]], colWidths=[50 * mm, 40 * mm])
    summary.setStyle(grid)
    story.append(summary)
    for title, rows in figures["tables"]:
        story += [Spacer(1, 4 * mm), Paragraph(title, heading)]
        table = Table(
            [HEADER, *[[str(cell) for cell in row] for row in rows]],
            repeatRows=1,
            colWidths=[10 * mm, 48 * mm, 30 * mm, 14 * mm, 14 * mm, 14 * mm, 16 * mm, 18 * mm, 12 * mm, 12 * mm],
        )
        table.setStyle(grid)
        table.setStyle(ranked)
        story.append(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    document = SimpleDocTemplate(
        str(out),
        pagesize=A4,
        title=figures["title"],
        author="雪亮 Xueliang",
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
    )
    document.build(story)
    progress(1.0, "完成")
    return {"week": figures["week"], "path": str(out), "cases": figures["cases"]}
