"""12345 hotline exports into signals: CSV (UTF-8 with or without BOM, UTF-16, GB18030) or XLSX, one signal per
accepted row, a per-row report for the operator (`xueliang import hotline FILE`).

Each row is checked on its own: a bad row is refused with its reason and never stops the others. Accepted rows
become `hotline` signals keyed by the ticket id, so importing the same file again creates nothing new. Phone
numbers are sealed (PhoneVault), names masked, and the raw row is kept encrypted: no plain personal data is
written. Rows without coordinates are placed by the township/village name their address contains.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.secrets import PhoneVault
from models.commands import LOCAL_TZ
from models.db import Database, utcnow
from models.errors import ValidationError
from models.intake import record_signal
from models.org import AdminUnit, Level
from models.routing import locate
from models.taxonomy import Category

MAX_DESCRIPTION = 4000
MAX_TICKET = 180  # the signal key is "hotline:" + ticket id and must fit in 200 characters
HEADER_SCAN_ROWS = 10  # real exports put a title row or two above the header
CHUNK = 500  # accepted rows written per transaction

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REFUSED = "refused"

# Canonical field -> accepted header names, best first (compared after _norm_header: no spaces, no "*",
# half-width brackets, lower case).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "ticket": ("工单编号", "工单号", "受理编号", "工单id", "ticket_id", "ticketid", "ticket", "ticket_no", "ticketno"),
    "time": ("来电时间", "受理时间", "登记时间", "time", "call_time", "calltime", "received_at", "created_at"),
    "phone": ("来电号码", "联系电话", "联系方式", "电话", "phone", "caller_phone", "telephone", "tel", "mobile"),
    "name": ("来电人", "联系人", "来电人姓名", "姓名", "name", "caller", "caller_name"),
    "description": ("诉求内容", "问题描述", "工单内容", "来电内容", "description", "content", "details"),
    "category": ("问题分类", "诉求类别", "问题类别", "诉求分类", "category", "category_code"),
    "address": ("事发地址", "地址", "事发地点", "详细地址", "address", "location"),
    "lon": ("经度", "lon", "lng", "longitude"),
    "lat": ("纬度", "lat", "latitude"),
    "district": ("所属区县", "区县", "所属区", "district", "county"),
    "township": ("所属街道", "所属乡镇", "所属镇街", "街道", "乡镇", "township", "street", "subdistrict"),
}
REQUIRED_COLUMNS = ("ticket", "description", "category")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# progress(stage, done, total): stage "check" counts the file's data rows checked, stage "write" the accepted rows
# written (the console shows it while a large export imports).
Progress = Callable[[str, int, int], None]


def _norm_header(value: Any) -> str:
    text = unicodedata.normalize("NFKC", str(value or "")).strip().lower()
    return re.sub(r"[\s*＊:：]", "", text).replace("（", "(").replace("）", ")")


_ALIAS_RANK: dict[str, tuple[str, int]] = {
    _norm_header(alias): (name, rank) for name, aliases in HEADER_ALIASES.items() for rank, alias in enumerate(aliases)
}


# ------------------------------------------------------------------------------------------------ report


@dataclass
class HotlineRow:
    row: int  # 1-based row of the file (the spreadsheet row; the CSV record, title and header rows counted)
    ticket: str | None
    outcome: str  # accepted | duplicate | refused
    reason: str | None = None  # English, stable: "missing ticket id", 'unknown category "xxx"', ...
    reason_zh: str | None = None
    signal_id: int | None = None


@dataclass
class HotlineReport:
    path: str
    kind: str  # csv | xlsx
    encoding: str | None  # the CSV encoding detected; None for XLSX
    header_row: int
    rows: list[HotlineRow] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.outcome == outcome)

    @property
    def accepted(self) -> int:
        return self.count(ACCEPTED)

    @property
    def duplicates(self) -> int:
        return self.count(DUPLICATE)

    @property
    def refused(self) -> int:
        return self.count(REFUSED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "encoding": self.encoding,
            "header_row": self.header_row,
            "counts": {
                "rows": len(self.rows),
                ACCEPTED: self.accepted,
                DUPLICATE: self.duplicates,
                REFUSED: self.refused,
            },
            "rows": [
                {
                    "row": r.row,
                    "ticket": r.ticket,
                    "outcome": r.outcome,
                    "reason": r.reason,
                    "reason_zh": r.reason_zh,
                    "signal": r.signal_id,
                }
                for r in self.rows
            ],
        }


OUTCOME_LABELS = {ACCEPTED: "已接收 accepted", DUPLICATE: "重复 duplicate", REFUSED: "拒收 refused"}


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - _width(text), 0)


def format_report(report: HotlineReport) -> str:
    """A per-row text table, Chinese headings first, and a summary line (for the CLI)."""
    headings = ("行号 Row", "工单编号 Ticket", "结果 Outcome", "原因 Reason")
    lines: list[tuple[str, ...]] = []
    for r in report.rows:
        if r.reason:
            reason = f"{r.reason_zh} / {r.reason}" if r.reason_zh else r.reason
        else:
            reason = ""
        lines.append((str(r.row), r.ticket or "-", OUTCOME_LABELS.get(r.outcome, r.outcome), reason))
    widths = [max([_width(h)] + [_width(line[i]) for line in lines]) for i, h in enumerate(headings[:-1])]
    kind = f"{report.kind}, {report.encoding}" if report.encoding else report.kind
    out = [f"导入 {report.path}（{kind}，表头在第 {report.header_row} 行） / header at row {report.header_row}"]
    out.append("  ".join(_pad(h, w) for h, w in zip(headings[:-1], widths, strict=True)) + "  " + headings[-1])
    out.append("  ".join("-" * w for w in widths) + "  " + "-" * _width(headings[-1]))
    for line in lines:
        out.append(("  ".join(_pad(c, w) for c, w in zip(line[:-1], widths, strict=True)) + "  " + line[-1]).rstrip())
    out.append(
        f"共 {len(report.rows)} 行：接收 {report.accepted}，重复 {report.duplicates}，拒收 {report.refused} / "
        f"{len(report.rows)} rows: {report.accepted} accepted, {report.duplicates} duplicate, {report.refused} refused"
    )
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ places


@dataclass(frozen=True)
class _Place:
    code: str
    name: str
    level: str
    path: str


class PlaceIndex:
    """Townships/streets and villages/communities by name, to place an address that has no coordinates: the
    longest name contained in the text wins; equally long names are told apart by a township named alongside."""

    def __init__(self, units: Iterable[_Place]) -> None:
        self.places = sorted(units, key=lambda p: len(p.name), reverse=True)
        self.townships = {p.name: p for p in self.places if p.level == Level.TOWNSHIP.value}

    @classmethod
    def load(cls, session: Session) -> PlaceIndex:
        rows = session.execute(
            select(AdminUnit.code, AdminUnit.name, AdminUnit.level, AdminUnit.path).where(
                AdminUnit.level.in_([Level.TOWNSHIP.value, Level.VILLAGE.value])
            )
        ).all()
        return cls(_Place(code, name, level, path) for code, name, level, path in rows if name)

    def match(self, text: str | None, township_hint: str | None = None) -> str | None:
        """The code of the township/village whose name appears in `text` (longest wins), else the township
        named by `township_hint` (a 所属街道 cell), else None."""
        hint = self._township(township_hint)
        if text:
            hits = [p for p in self.places if p.name in text]
            if hits:
                longest = [p for p in hits if len(p.name) == len(hits[0].name)]
                if len(longest) > 1:
                    context = [t for t in hits if t.level == Level.TOWNSHIP.value] + ([hint] if hint else [])
                    inside = [p for p in longest if any(p.path.startswith(t.path) for t in context)]
                    longest = inside or longest
                return longest[0].code
        return hint.code if hint else None

    def _township(self, name: str | None) -> _Place | None:
        if not name:
            return None
        name = name.strip()
        if name in self.townships:
            return self.townships[name]
        for place in self.townships.values():
            if place.name in name or (len(name) >= 2 and place.name.startswith(name)):
                return place
        return None


# ------------------------------------------------------------------------------------------------ reading


@dataclass
class _Table:
    kind: str
    encoding: str | None
    rows: list[tuple[int, list[Any]]]  # (1-based row number, cells)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ValueError("不是 UTF-8 或 GB18030 编码的 CSV / the file is neither UTF-8 nor GB18030 text") from exc


def _read_csv(data: bytes) -> _Table:
    text, encoding = _decode(data)
    if "\x00" in text:
        raise ValueError("文件不是 CSV 或 XLSX / the file is neither CSV nor XLSX (binary content)")
    best: list[tuple[int, list[Any]]] | None = None
    for delimiter in (",", "\t", ";", "|"):
        rows = [(i, list(cells)) for i, cells in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), 1)]
        if _find_header(rows) is not None:
            return _Table("csv", encoding, rows)
        best = best or rows
    return _Table("csv", encoding, best or [])


def _read_xlsx(path: Path) -> _Table:
    from zipfile import BadZipFile

    try:
        from openpyxl import load_workbook
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        raise ValueError("读取 XLSX 需要 openpyxl / reading XLSX needs openpyxl (pip install openpyxl)") from exc
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ValueError(f"不是有效的 XLSX 文件 / not a valid XLSX workbook: {exc}") from exc
    try:
        sheet = book.worksheets[0]
        rows = [(i, list(cells)) for i, cells in enumerate(sheet.iter_rows(values_only=True), 1)]
    finally:
        book.close()
    return _Table("xlsx", None, rows)


def _read(path: Path) -> _Table:
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"文件为空 / {path} is empty")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ValueError("不支持旧版 .xls，请另存为 .xlsx 或 CSV / old .xls is not supported: save as .xlsx or CSV")
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raise ValueError(f"{path.name} 不是有效的 XLSX 文件 / {path.name} is not a valid XLSX workbook")
    return _read_csv(data)


def _find_header(rows: Sequence[tuple[int, list[Any]]]) -> tuple[int, dict[str, int]] | None:
    """The first row (within HEADER_SCAN_ROWS) naming the ticket column and at least one other known column,
    with the column index of each canonical field (best alias wins when two columns mean the same)."""
    for position, (_, cells) in enumerate(rows[:HEADER_SCAN_ROWS]):
        best: dict[str, tuple[int, int]] = {}
        for index, cell in enumerate(cells):
            hit = _ALIAS_RANK.get(_norm_header(cell))
            if hit is None:
                continue
            name, rank = hit
            if name not in best or rank < best[name][1]:
                best[name] = (index, rank)
        if "ticket" in best and len(best) >= 2:
            return position, {name: index for name, (index, _) in best.items()}
    return None


# ------------------------------------------------------------------------------------------------ cells


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat()
    return unicodedata.normalize("NFC", str(value)).strip()


def _parse_time(value: Any) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    else:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        text = re.sub(r"(\d)年(\d)", r"\1-\2", text)
        text = re.sub(r"(\d)月(\d)", r"\1-\2", text).replace("日", " ").replace("/", "-")
        text = re.sub(r"\s+", " ", text).strip()
        parsed_or_none: datetime | None = None
        try:
            parsed_or_none = datetime.fromisoformat(text)
        except ValueError:
            for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y%m%d%H%M%S", "%Y%m%d"):
                try:
                    parsed_or_none = datetime.strptime(text, pattern)
                    break
                except ValueError:
                    continue
        if parsed_or_none is None:
            raise ValueError(text)
        parsed = parsed_or_none
    return parsed.replace(tzinfo=LOCAL_TZ) if parsed.tzinfo is None else parsed


def _coordinate(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(unicodedata.normalize("NFKC", str(value)).strip()) if not isinstance(value, int | float) else value
    if not math.isfinite(number):
        raise ValueError(value)
    return float(number)


_LANDLINE = re.compile(r"^0[1-9]\d{8,10}$")


def domestic_phone(raw: str) -> str:
    """Mainland landlines as exports write them ('0539-8123456') in E.164 ('+865398123456'); others unchanged."""
    digits = re.sub(r"[\s\-().]", "", raw)
    return "+86" + digits[1:] if _LANDLINE.match(digits) else raw


def mask_name(name: str | None) -> str | None:
    """'张三丰' -> '张**', 'john smith' -> 'j*** s****'; None when there is no name."""
    parts = [p for p in re.split(r"\s+", name or "") if p]
    if not parts:
        return None
    return " ".join(p[0] + "*" * max(len(p) - 1, 1) for p in parts)


def reporter_fields(vault: PhoneVault, phone: str | None, name: str | None, email: str | None) -> dict[str, Any]:
    """The reporter as signals keep it: sealed phone with its mask and keyed digest, masked name and e-mail.
    Raises models.errors.ValidationError for a phone number that is not one."""
    sealed = vault.seal(domestic_phone(phone)) if phone else None
    return {
        "phone_sealed": sealed.sealed if sealed else None,
        "phone_masked": sealed.masked if sealed else None,
        "phone_digest": sealed.digest if sealed else None,
        "name_masked": mask_name(name),
        "email_masked": mask_email(email),
    }


def mask_email(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


# ------------------------------------------------------------------------------------------------ import


class _Refused(Exception):
    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en = en
        self.zh = zh


@dataclass
class _Catalogue:
    by_code: dict[str, str]  # upper-cased code -> code
    by_name: dict[str, str]  # name -> code

    @classmethod
    def load(cls, session: Session) -> _Catalogue:
        rows = session.execute(select(Category.code, Category.name).where(Category.active.is_(True))).all()
        return cls({code.upper(): code for code, _ in rows}, {name: code for code, name in rows})

    def find(self, label: str) -> str | None:
        """A code ('E0201', 'e0201'), a name ('非法小广告') or a path of names ('宣传广告/非法小广告')."""
        text = unicodedata.normalize("NFKC", label).strip()
        if text.upper() in self.by_code:
            return self.by_code[text.upper()]
        if text in self.by_name:
            return self.by_name[text]
        code = re.match(r"^([CE]\d{4})\b", text, re.IGNORECASE)
        if code and code.group(1).upper() in self.by_code:
            return self.by_code[code.group(1).upper()]
        last = re.split(r"[/>\\|\-－—]+", text)[-1].strip()
        return self.by_name.get(last)


def _cell(cells: list[Any], columns: dict[str, int], name: str) -> Any:
    index = columns.get(name)
    return cells[index] if index is not None and index < len(cells) else None


def _check_row(
    session: Session,
    cells: list[Any],
    columns: dict[str, int],
    catalogue: _Catalogue,
    places: PlaceIndex,
    vault: PhoneVault,
) -> tuple[str, dict[str, Any], datetime | None]:
    """The ticket id, the signal fields and the reported time of a row, or _Refused with the reason."""
    ticket = _text(_cell(cells, columns, "ticket"))
    if not ticket:
        raise _Refused("missing ticket id", "缺少工单编号")
    if len(ticket) > MAX_TICKET:
        raise _Refused("ticket id too long", "工单编号过长")
    description = _text(_cell(cells, columns, "description"))
    if not description:
        raise _Refused("empty description", "诉求内容为空")
    label = _text(_cell(cells, columns, "category"))
    if not label:
        raise _Refused("missing category", "缺少问题分类")
    code = catalogue.find(label)
    if code is None:
        raise _Refused(f'unknown category "{label}"', f"未知问题分类“{label}”")
    try:
        lat = _coordinate(_cell(cells, columns, "lat"))
        lon = _coordinate(_cell(cells, columns, "lon"))
    except (TypeError, ValueError) as exc:
        raise _Refused("bad coordinates", "经纬度无效") from exc
    if (lat is None) != (lon is None) or (
        lat is not None
        and lon is not None
        and (not (-90 <= lat <= 90) or not (-180 <= lon <= 180) or (lat == 0 and lon == 0))
    ):
        raise _Refused("bad coordinates", "经纬度无效")
    if lat is not None and lon is not None:
        try:
            locate(session, lat, lon)  # the intake's own rule: farther than 15 km from every village is outside
        except ValidationError as exc:
            raise _Refused("outside the jurisdiction", "坐标不在本辖区内") from exc
    address = _text(_cell(cells, columns, "address")) or None
    district = _text(_cell(cells, columns, "district")) or None
    township = _text(_cell(cells, columns, "township")) or None
    unit: str | None = None
    if lat is None:
        if not address and not township:
            raise _Refused("no location", "无坐标也无地址")
        unit = places.match(" ".join(filter(None, [address, township])), township)
        if unit is None:
            raise _Refused("no location: the address names no known township or village", "地址中没有可识别的乡镇/村居")
    try:
        reported = _parse_time(_cell(cells, columns, "time"))
    except ValueError as exc:
        raise _Refused(f'bad time "{_text(_cell(cells, columns, "time"))}"', "来电时间无法识别") from exc
    phone = _text(_cell(cells, columns, "phone")) or None
    name = _text(_cell(cells, columns, "name")) or None
    if phone and "*" in phone:  # already masked by the exporting system: keep the mask, nothing to seal
        reporter = {"phone_sealed": None, "phone_masked": phone, "phone_digest": None}
        reporter |= {"name_masked": mask_name(name), "email_masked": None}
    else:
        try:
            reporter = reporter_fields(vault, phone, name, None)
        except ValidationError as exc:
            raise _Refused("bad phone", "来电号码无效") from exc
    fields: dict[str, Any] = {
        "category": code,
        "lat": lat,
        "lon": lon,
        "address": address,
        "description": description[:MAX_DESCRIPTION],
        "media_url": None,
        "unit": unit,
        "reporter": reporter,
        "ticket": ticket,
        "hotline_category": label if label != code else None,
        "district": district,
        "township": township,
    }
    return ticket, fields, reported


def _raw_row(header: list[Any], cells: list[Any], path: Path, row: int) -> bytes:
    names = [_text(h) or f"col{i + 1}" for i, h in enumerate(header)]
    values = {names[i] if i < len(names) else f"col{i + 1}": _text(v) for i, v in enumerate(cells)}
    return json.dumps({"file": path.name, "row": row, "cells": values}, ensure_ascii=False).encode("utf-8")


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_hotline(
    db: Database, path: Path, vault: PhoneVault, *, now: datetime | None = None, progress: Progress | None = None
) -> HotlineReport:
    """Import a 12345 export; one signal per accepted row. Raises ValueError for a file that is not CSV/XLSX or
    has no recognisable header; every row-level problem is reported per row instead."""
    path = Path(path)
    now = now or utcnow()
    table = _read(path)
    found = _find_header(table.rows)
    if found is None:
        expected = "、".join(HEADER_ALIASES[name][0] for name in REQUIRED_COLUMNS)
        raise ValueError(
            f"{path.name}：前 {HEADER_SCAN_ROWS} 行中没有可识别的表头（需要 {expected} 等列） / "
            f"no recognisable header in the first {HEADER_SCAN_ROWS} rows of {path.name} "
            "(expected columns such as 工单编号/ticket_id, 诉求内容/description, 问题分类/category)"
        )
    position, columns = found
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValueError(
            f"{path.name}：表头缺少列 {'、'.join(HEADER_ALIASES[m][0] for m in missing)} / "
            f"the header of {path.name} lacks the column(s) {', '.join(missing)}"
        )
    header_row, header = table.rows[position]
    report = HotlineReport(str(path), table.kind, table.encoding, header_row)

    content_type = "sealed;application/json"  # the row, as {"file", "row", "cells": {header: text}}
    pending: list[tuple[HotlineRow, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    data_rows = table.rows[position + 1 :]
    with db.read() as session:
        catalogue = _Catalogue.load(session)
        places = PlaceIndex.load(session)
        for checked, (number, cells) in enumerate(data_rows, 1):
            if progress is not None:
                progress("check", checked, len(data_rows))
            if all(_text(c) == "" for c in cells):
                continue
            ticket_cell = _text(_cell(cells, columns, "ticket")) or None
            try:
                ticket, fields, reported = _check_row(session, cells, columns, catalogue, places, vault)
            except _Refused as refusal:
                report.rows.append(HotlineRow(number, ticket_cell, REFUSED, refusal.en, refusal.zh))
                continue
            if ticket in seen:
                first = seen[ticket]
                en, zh = f"duplicate of row {first} in this file", f"与本文件第 {first} 行重复"
                report.rows.append(HotlineRow(number, ticket, DUPLICATE, en, zh))
                continue
            seen[ticket] = number
            row = HotlineRow(number, ticket, ACCEPTED)
            report.rows.append(row)
            values = {
                "device_time": reported,
                "time_flagged": False,
                "external_id": ticket,
                "fields": fields,
                "raw": vault.seal_bytes(_raw_row(header, cells, path, number)),
                "key": f"hotline:{ticket}",
            }
            pending.append((row, values))

    written = 0
    for chunk in _chunks(pending, CHUNK):
        if progress is not None:
            progress("write", written, len(pending))
        written += len(chunk)
        with db.write() as session:
            for row, values in chunk:
                recorded = record_signal(
                    session,
                    source="hotline",
                    type_="citizen_report",
                    state="active",
                    camera_ref=None,
                    content_type=content_type,
                    received_at=now,
                    **values,
                )
                row.signal_id = recorded.id
                if recorded.duplicate:
                    row.outcome = DUPLICATE
                    row.reason = f"already imported (signal {recorded.id})"
                    row.reason_zh = f"已导入过（信号 {recorded.id}）"
    if progress is not None:
        progress("write", written, len(pending))
    return report
