"""Hotline import (热线工单导入): a 12345 export (CSV in UTF-8 or GB18030, or XLSX) through the same import as
`xueliang import hotline`, with progress, then the accepted rows turned into cases at once (the intake the worker
would run; signals it already took are skipped) and the per-row report, downloadable as CSV."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy import select

from integrations.hotline import ACCEPTED, DUPLICATE, REFUSED, HotlineReport, import_hotline
from integrations.secrets import PhoneVault
from models.cases import Case, Signal
from models.intake import process_batch
from models.org import Role
from ui.i18n import tr
from ui.session import database, perform, require, settings

REPORT_KEY = "imports_report"
BATCH = 500  # signals turned into cases per transaction
OUTCOMES = {
    ACCEPTED: ("已接收", "accepted"),
    DUPLICATE: ("重复", "duplicate"),
    REFUSED: ("拒收", "refused"),
}
SIGNAL_STATUS = {
    "new": ("待处理", "waiting"),
    "cased": ("已立卷", "new case"),
    "attached": ("并入已有案卷", "added to a case"),
    "linked": ("关联已有案卷", "linked to a case"),
    "suppressed": ("已屏蔽", "suppressed"),
}


def progress_bar() -> Any:
    """A progress callback for import_hotline drawing on one st.progress bar (redrawn only when it moves)."""
    bar = st.progress(0.0, text=tr("读取文件…", "Reading the file…"))
    last: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        percent = 100 if total == 0 else done * 100 // total
        if last.get(stage) == percent:
            return
        last[stage] = percent
        if stage == "check":
            text = tr(f"检查第 {done}/{total} 行", f"Checking row {done} of {total}")
        else:
            text = tr(f"写入 {done}/{total} 条", f"Writing {done} of {total}")
        bar.progress(percent / 100, text=text)

    return update


def make_cases(signal_ids: list[int]) -> dict[int, tuple[str, str | None]]:
    """Run the intake on the imported signals now, batch by batch; each signal's status and case number."""
    prefix = settings().city_prefix
    for start in range(0, len(signal_ids), BATCH):
        batch = signal_ids[start : start + BATCH]
        perform(lambda s, batch=batch: process_batch(s, ids=batch, limit=len(batch), prefix=prefix))
    outcome: dict[int, tuple[str, str | None]] = {}
    with database().read() as session:
        for start in range(0, len(signal_ids), BATCH):
            rows = session.execute(
                select(Signal.id, Signal.status, Case.number)
                .outerjoin(Case, Case.id == Signal.case_id)
                .where(Signal.id.in_(signal_ids[start : start + BATCH]))
            ).all()
            outcome.update({sid: (status, number) for sid, status, number in rows})
    return outcome


def report_rows(report: HotlineReport, cases: dict[int, tuple[str, str | None]]) -> list[dict[str, Any]]:
    rows = []
    for row in report.rows:
        status, number = cases.get(row.signal_id or 0, ("", None))
        rows.append(
            {
                "row": row.row,
                "ticket": row.ticket or "",
                "outcome": row.outcome,
                "reason_zh": row.reason_zh or "",
                "reason": row.reason or "",
                "signal": row.signal_id,
                "intake": status,
                "case": number or "",
            }
        )
    return rows


def run_import(name: str, data: bytes) -> dict[str, Any] | None:
    with st.status(tr(f"正在导入 {name}…", f"Importing {name}…"), expanded=True) as status:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / (Path(name).name or "hotline.csv")
            path.write_bytes(data)
            try:
                report = import_hotline(database(), path, PhoneVault.from_settings(settings()), progress=progress_bar())
            except (ValueError, OSError) as exc:
                status.update(label=tr("导入失败", "Import failed"), state="error")
                st.error(str(exc))
                return None
        st.write(tr("正在生成案卷…", "Opening cases…"))
        cases = make_cases([r.signal_id for r in report.rows if r.outcome == ACCEPTED and r.signal_id is not None])
        status.update(label=tr(f"{name} 导入完成", f"{name} imported"), state="complete", expanded=False)
    return {
        "file": name,
        "encoding": report.encoding or report.kind,
        "counts": {ACCEPTED: report.accepted, DUPLICATE: report.duplicates, REFUSED: report.refused},
        "rows": report_rows(report, cases),
    }


def report_csv(rows: list[dict[str, Any]]) -> bytes:
    """The report as CSV with a BOM, so that Excel opens the Chinese reasons correctly."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["row"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def show_report(result: dict[str, Any]) -> None:
    counts = result["counts"]
    st.subheader(tr(f"导入报告：{result['file']}", f"Import report: {result['file']}"))
    columns = st.columns(4)
    columns[0].metric(tr("总行数", "Rows"), len(result["rows"]))
    for column, outcome in zip(columns[1:], (ACCEPTED, DUPLICATE, REFUSED), strict=True):
        column.metric(tr(*OUTCOMES[outcome]), counts[outcome])
    opened = sum(1 for r in result["rows"] if r["intake"] == "cased")
    st.caption(
        tr(
            f"编码 {result['encoding']}；新立案卷 {opened} 件",
            f"encoding {result['encoding']}; {opened} new cases",
        )
    )
    frame = [
        {
            tr("行号", "Row"): r["row"],
            tr("工单编号", "Ticket"): r["ticket"],
            tr("结果", "Outcome"): tr(*OUTCOMES.get(r["outcome"], (r["outcome"], r["outcome"]))),
            tr("原因", "Reason"): tr(r["reason_zh"], r["reason"]) if r["reason"] else "",
            tr("处理", "Intake"): tr(*SIGNAL_STATUS.get(r["intake"], (r["intake"], r["intake"])))
            if r["intake"]
            else "",
            tr("案卷", "Case"): r["case"],
        }
        for r in result["rows"]
    ]
    st.dataframe(frame, key="imports_table", hide_index=True)
    st.download_button(
        tr("下载导入报告 (CSV)", "Download the report (CSV)"),
        report_csv(result["rows"]),
        file_name=f"{Path(result['file']).stem}-report.csv",
        mime="text/csv",
        key="imports_download",
        on_click="ignore",
    )


viewer = require(Role.REVIEWER.value, Role.ADMIN.value)
st.title(tr("热线工单导入", "Hotline import"))
st.caption(
    tr(
        "上传 12345 热线导出的 CSV（UTF-8 或 GB18030）或 XLSX。需要“工单编号、诉求内容、问题分类”列，以及经纬度或"
        "含乡镇/村居名称的地址。同一工单重复导入不会重复立案；来电号码加密保存，只显示掩码。",
        "Upload a 12345 hotline export: CSV (UTF-8 or GB18030) or XLSX, with ticket id, description and category "
        "columns and either coordinates or an address naming the township or village. A ticket imported twice "
        "opens no second case; callers' numbers are stored sealed and shown masked.",
    )
)
upload = st.file_uploader(tr("热线工单文件", "Hotline export"), type=["csv", "txt", "xlsx"], key="imports_file")
if st.button(tr("开始导入", "Import"), key="imports_run", type="primary", disabled=upload is None) and upload:
    result = run_import(upload.name, upload.getvalue())
    if result is not None:
        st.session_state[REPORT_KEY] = result
if REPORT_KEY in st.session_state:
    show_report(st.session_state[REPORT_KEY])
