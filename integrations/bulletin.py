"""The weekly bulletin (周报) for leadership as an XLSX workbook: headline figures, then rankings by responsible
unit and by category, in Chinese."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from models.db import Database
from models.stats import statistics


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def week_of(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def weekly_bulletin(db: Database, monday: date, out: Path) -> dict[str, Any]:
    sunday = monday + timedelta(days=6)
    with db.read() as session:
        overall = statistics(session, date_from=monday, date_to=sunday)
        by_unit = statistics(session, date_from=monday, date_to=sunday, by="unit")["by"]
        by_category = statistics(session, date_from=monday, date_to=sunday, by="category")["by"]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "概况"
    iso = monday.isocalendar()
    sheet.append([f"雪亮工程 案卷办理周报 {iso.year}年第{iso.week}周（{monday:%m月%d日}—{sunday:%m月%d日}）"])
    sheet["A1"].font = Font(bold=True, size=14)
    counts = overall["counts"]
    for label, value in (
        ("案卷总数", counts["total"]),
        ("应结案数", counts["due"]),
        ("已结案数", counts["closed"]),
        ("结案率", _pct(overall["closure_rate"])),
        ("按期结案率", _pct(overall["on_time_closure_rate"])),
        ("平均处置时长（小时）", overall["avg_handling_hours"] or "—"),
        ("超期案卷", overall["overdue"]),
        ("返工次数", overall["rework"]),
        ("督办案卷", counts["supervised"]),
    ):
        sheet.append([label, value])
    header = ["排名", "名称", "代码", "案卷数", "应结案", "已结案", "结案率", "按期结案率", "超期", "返工"]
    for title, rows in (("责任单位排名", by_unit), ("问题类别", by_category)):
        ranked = sorted(rows, key=lambda r: (-(r["on_time_closure_rate"] or 0), -r["counts"]["total"]))
        tab = book.create_sheet(title)
        tab.append(header)
        for cell in tab[1]:
            cell.font = Font(bold=True)
        for rank, row in enumerate(ranked, start=1):
            tab.append(
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
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return {"week": f"{iso.year}-W{iso.week:02d}", "path": str(out), "cases": counts["total"]}
