"""SMS notices as the dispatch board and the SMS outbox page show them: one table, phones masked only."""

from __future__ import annotations

import pandas as pd

from models.notices import BoardRow, segments
from ui.i18n import local_time, tr

KIND_NAMES: dict[str, tuple[str, str]] = {
    "dispatch": ("派遣通知", "dispatch"),
    "rework": ("返工通知", "rework"),
    "reminder": ("超期提醒", "reminder"),
}


def status_text(row: BoardRow) -> str:
    """The delivery status in the viewer's language; a failed one is marked, and a backup notice says whose
    place it takes."""
    text = tr(row.status_zh, row.status.replace("_", " "))
    if row.flagged:
        text = "⚠ " + text
    if row.backup_of is not None:
        text += tr(f"（替补通知，原 #{row.backup_of}）", f" (backup for #{row.backup_of})")
    return text


def notice_frame(rows: list[BoardRow], *, text: bool = False, sid: bool = False) -> pd.DataFrame:
    """A table of notices: when, to whom (masked), which case, what kind, status and why it failed; with `text`
    the message and its SMS segments, with `sid` the provider's message id."""
    records = []
    for row in rows:
        kind_zh, kind_en = KIND_NAMES.get(row.kind, (row.kind, row.kind))
        record = {
            tr("时间", "Time"): local_time(row.sent_at or row.created_at),
            tr("案卷", "Case"): row.case_number,
            tr("类型", "Kind"): tr(kind_zh, kind_en),
            tr("收件人", "Recipient"): " ".join(p for p in (row.contact, row.phone_masked) if p) or "—",
            tr("状态", "Status"): status_text(row),
        }
        if text:
            record[tr("内容", "Text")] = row.body
            record[tr("条数", "Segments")] = segments(row.body)
        if sid:
            record["Twilio SID"] = row.provider_sid or "—"
        record[tr("说明", "Note")] = row.error or ""
        records.append(record)
    return pd.DataFrame.from_records(records)
