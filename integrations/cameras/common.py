"""Helpers shared by the camera parsers: one implementation each of time parsing, multipart splitting, safe XML
and JSON loading, and the final validation every ParsedSignal passes through.

Everything here raises ParseError (never anything else) for input it cannot understand, so the parsers can
call it without their own try/except.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XMLSyntaxError
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from integrations.cameras import ParsedSignal, ParseError

try:
    SHANGHAI: timezone | ZoneInfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:  # no tz database on the machine: China has had no DST since 1991
    SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

STATES = frozenset({"start", "stop", "active"})
KNOWN_TYPES = frozenset(
    {
        "motion",
        "line_crossing",
        "intrusion",
        "region_entrance",
        "region_exit",
        "loitering",
        "crowd",
        "pir",
        "alarm_input",
        "plate",
        "face",
        "object",
        "fire",
        "traffic_accident",
        "congestion",
        "wrong_way",
        "illegal_parking",
        "tamper",
        "video_loss",
    }
)
# Column widths of models.cases.Signal: a camera ref or event id longer than this is not a real device's.
MAX_REF = 120
MAX_TYPE = 48
# Epoch seconds accepted as a device time: 1970 .. 9999 (datetime's range); anything else is malformed.
_MAX_EPOCH = 253402300799


# ------------------------------------------------------------------------------------------------ types


def normalize_type(text: str) -> str:
    """A free-text event type as the normalized vocabulary spells it: lowercase, spaces/hyphens -> '_'."""
    return re.sub(r"[\s\-]+", "_", text.strip().lower())


def other(vendor_type: str) -> str:
    """The type of an event outside the normalized vocabulary, cut to the Signal.type column."""
    return f"other:{vendor_type.strip()}"[:MAX_TYPE]


# ------------------------------------------------------------------------------------------------ time


def to_utc(value: datetime) -> datetime | None:
    """An aware or naive (= Asia/Shanghai) datetime in UTC; None when it falls outside datetime's range."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=SHANGHAI)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def parse_time(text: str | None) -> datetime | None:
    """ISO 8601 device time in UTC. No offset means Asia/Shanghai (the devices' local time); malformed or
    missing gives None (the caller flags it)."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > 64 or not text.isascii():
        return None
    # A few firmwares write "+8:00" or "+0800"; normalise the offset to "+08:00" before fromisoformat.
    match = re.fullmatch(r"(.*?[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)([+-])(\d{1,2}):?(\d{2})", text)
    if match:
        text = f"{match[1]}{match[2]}{int(match[3]):02d}:{match[4]}"
    try:
        parsed = datetime.fromisoformat(text.replace(",", "."))
    except ValueError:
        return None
    if len(text) <= 10:  # a date without a time of day is not an alarm time
        return None
    return to_utc(parsed)


def from_epoch(value: Any) -> datetime | None:
    """Epoch seconds (int, float or a numeric string) in UTC; None when missing, not a number or out of range."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,9})?", value):
            return None
        value = float(value)
    value = json_number(value)
    if value is None or not 0 <= value <= _MAX_EPOCH:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------ numbers


def number(text: str | None) -> int | float | None:
    """A device's decimal number as int or float; None for anything else (empty, huge, inf, nan, junk)."""
    if text is None:
        return None
    text = text.strip()
    if not re.fullmatch(r"[+-]?([0-9]{1,15}(\.[0-9]{0,15})?|\.[0-9]{1,15})([eE][+-]?[0-9]{1,3})?", text):
        return None
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


def json_number(value: Any, limit: float = 1e15) -> int | float | None:
    """A JSON number within ±limit (not a bool, not NaN/inf, not a 400-digit int); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value if -limit <= value <= limit else None  # int/float comparison is exact, never overflows


def channel_number(text: str | None, default: int | None = 1) -> int | None:
    """A channel number (0..99999); missing gives the default, anything else is a ParseError."""
    if text is None or not text.strip():
        return default
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,5}", text):
        raise ParseError(f"channel {text[:40]!r} is not a channel number", code="bad_channel")
    return int(text)


# ------------------------------------------------------------------------------------------------ headers


def content_type_params(value: str | None) -> tuple[str, dict[str, str]]:
    """'multipart/mixed; boundary="x"' -> ('multipart/mixed', {'boundary': 'x'}). Keys lowercased."""
    if not value:
        return "", {}
    head, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"').strip("'")
    return head.strip().lower(), params


@dataclass(frozen=True)
class Part:
    """One part of a multipart body: its headers (names lowercased) and its bytes."""

    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return content_type_params(self.headers.get("content-type"))[0]

    @property
    def charset(self) -> str | None:
        return content_type_params(self.headers.get("content-type"))[1].get("charset")

    @property
    def name(self) -> str | None:
        """The form-data field name, or the filename, from Content-Disposition."""
        params = content_type_params(self.headers.get("content-disposition"))[1]
        return params.get("name") or params.get("filename")

    @property
    def filename(self) -> str | None:
        return content_type_params(self.headers.get("content-disposition"))[1].get("filename")

    def is_image(self) -> bool:
        return self.content_type.startswith("image/") or self.body[:3] == b"\xff\xd8\xff"

    def describe(self) -> dict[str, Any]:
        """What is kept of a picture part: never its bytes."""
        return {
            "name": self.name,
            "filename": self.filename,
            "content_type": self.content_type or None,
            "size": len(self.body),
        }


_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9_-]{0,63}[ \t]*:")


def find_boundary(content_type: str | None, body: bytes) -> str | None:
    """The multipart boundary: from the Content-Type when the body uses it, else from a body that starts
    with '--token' (devices and proxies lose or mangle the header). None for a body that is not multipart."""
    mime, params = content_type_params(content_type)
    declared = params.get("boundary")
    head = body.lstrip(b"\r\n\t ")
    if declared:
        token = declared.encode("latin-1", "replace")
        if token.startswith(b"--") and not head.startswith(b"--" + token):  # header already carries the dashes
            token = token[2:]
        if head.startswith(b"--" + token) or re.search(rb"\n--" + re.escape(token), body):
            return token.decode("latin-1")
    match = re.match(rb"--([!-~]{1,70})[ \t]*\r?\n", head)
    if match:
        return match[1].decode("latin-1")
    if mime.startswith("multipart/"):
        raise ParseError(f"{mime} body without a recognisable boundary", code="bad_multipart")
    return None


def split_multipart(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body (mixed, form-data, x-mixed-replace). Tolerant of what cameras send:
    LF or CRLF, a missing blank line after the part headers (headers then end at the first non-header
    line), a missing closing delimiter; Content-Length headers are not trusted (they are often wrong)."""
    token = re.escape(boundary.encode("latin-1"))
    delimiter = re.compile(rb"(?:\A[\r\n\t ]*|\r?\n)--" + token + rb"(--)?[ \t]*(?=\r?\n|\Z)")
    parts: list[Part] = []
    matches = list(delimiter.finditer(body))
    for i, match in enumerate(matches):
        if match[1]:  # the closing delimiter
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        chunk = body[match.end() : end]
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith(b"\n"):
            chunk = chunk[1:]
        headers, content = _part_headers(chunk)
        if headers or content.strip():
            parts.append(Part(headers, content))
    return parts


def _part_headers(chunk: bytes) -> tuple[dict[str, str], bytes]:
    headers: dict[str, str] = {}
    pos = 0
    while pos < len(chunk):
        newline = chunk.find(b"\n", pos)
        line_end = len(chunk) if newline < 0 else newline + 1
        line = chunk[pos:line_end].rstrip(b"\r\n")
        if not line:  # the blank line that ends the headers
            return headers, chunk[line_end:]
        if not _HEADER_LINE.match(line) or len(line) > 4096:
            break  # the body starts without a blank line (Dahua does this)
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
        pos = line_end
    return headers, chunk[pos:]


def parts_of(body: bytes, content_type: str | None) -> list[Part] | None:
    """The parts of a multipart body, or None when the body is a single document."""
    boundary = find_boundary(content_type, body)
    return None if boundary is None else split_multipart(body, boundary)


# ------------------------------------------------------------------------------------------------ text, XML


_XML_DECL = re.compile(rb"\A[ \t\r\n]*<\?xml([^>]{0,200})\?>")
_ENCODING = re.compile(rb"""encoding[ \t\r\n]*=[ \t\r\n]*["']([A-Za-z][A-Za-z0-9._-]{0,40})["']""")
# What an XML declaration may name, as the codec that reads it. GB2312 bodies routinely hold GBK characters
# (devices write them with the Windows code page), and GB18030 is a superset of both: read all three with it.
_CODECS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "latin-1",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb18030": "gb18030",
}


def decode_xml(body: bytes, charset: str | None = None) -> tuple[str, str]:
    """The text of an XML body and the encoding named for it. The declaration's encoding wins, then the
    Content-Type charset, then UTF-8 (the XML default). A body its declared encoding cannot read is a
    ParseError saying where, not a crash or a silent replacement character."""
    declaration = _XML_DECL.match(body)
    declared: str | None = None
    if declaration:
        found = _ENCODING.search(declaration[1])
        declared = found[1].decode("ascii") if found else None
    name = (declared or charset or "utf-8").lower()
    codec = _CODECS.get(name)
    if codec is None:
        raise ParseError(f"unsupported XML encoding {name!r} (expected UTF-8, GB2312, GBK or GB18030)", "bad_encoding")
    data = body[3:] if body.startswith(b"\xef\xbb\xbf") and codec == "utf-8" else body
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        said = f"declares {declared!r}" if declared else f"names no encoding, so {name!r} was assumed"
        raise ParseError(
            f"the XML body {said} but is not valid {name}: bytes {exc.object[exc.start : exc.start + 4]!r}"
            f" at offset {exc.start} cannot be decoded",
            code="bad_encoding",
        ) from None
    return text, name


def parse_xml(body: bytes, charset: str | None = None) -> Element:
    """A parsed XML document with namespaces stripped from tags and attributes. defusedxml refuses entity
    declarations (billion laughs) and external references: that is ParseError 'forbidden_xml'."""
    text, _ = decode_xml(body, charset)
    # The text is already decoded: drop the declaration so expat does not try to honour its encoding again.
    text = re.sub(r"\A[ \t\r\n]*<\?xml[^>]{0,200}\?>", "", text, count=1)
    try:
        root = DefusedET.fromstring(text)
    except DefusedXmlException as exc:
        raise ParseError(f"forbidden XML construct: {type(exc).__name__}", code="forbidden_xml") from None
    except XMLSyntaxError as exc:
        raise ParseError(f"malformed XML: {exc}", code="bad_xml") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"unreadable XML: {exc}", code="bad_xml") from None
    strip_namespaces(root)
    return root


def strip_namespaces(root: Element) -> None:
    """'{http://www.hikvision.com/ver20/XMLSchema}eventType' -> 'eventType', in place, without recursion."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
        for key in [k for k in element.attrib if k.startswith("{")]:
            element.attrib[key.split("}", 1)[1]] = element.attrib.pop(key)


def children(element: Element, name: str) -> Iterator[Element]:
    """Direct children named `name`, case-insensitively (firmwares disagree on the case of tags)."""
    lowered = name.lower()
    return (child for child in element if isinstance(child.tag, str) and child.tag.lower() == lowered)


def descendants(element: Element, *names: str) -> Iterator[Element]:
    """Elements below `element` (itself excluded) with one of these names, case-insensitively, in order."""
    lowered = {n.lower() for n in names}
    for node in element.iter():
        if node is not element and isinstance(node.tag, str) and node.tag.lower() in lowered:
            yield node


def text_of(element: Element | None) -> str | None:
    """The stripped text of an element; None when absent or blank."""
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def child_text(element: Element, *path: str) -> str | None:
    """The text at a path of direct children (case-insensitive names), or None."""
    node: Element | None = element
    for name in path:
        node = next(children(node, name), None) if node is not None else None
    return text_of(node)


def first_text(element: Element, *names: str) -> str | None:
    """The first non-blank text of any element below with one of these names."""
    for node in descendants(element, *names):
        text = text_of(node)
        if text:
            return text
    return None


# ------------------------------------------------------------------------------------------------ JSON


def _refuse_constant(name: str) -> Any:
    raise ParseError(f"JSON holds {name}, which is not a number", code="bad_json")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ParseError(f"JSON number {text[:40]} is out of range", code="bad_json")
    return value


def load_json(text: str | bytes) -> Any:
    """Strict JSON that can be stored again as JSON anywhere: no NaN/Infinity, no number out of range, no
    lone surrogate or NUL character (PostgreSQL refuses both), not nested absurdly deep."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ParseError:
        raise
    except UnicodeDecodeError as exc:
        raise ParseError(f"body is not UTF-8 (byte offset {exc.start})", code="bad_encoding") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "bad_json") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"unreadable JSON: {str(exc)[:120]}", code="bad_json") from None
    ensure_storable(value)
    return value


def ensure_storable(value: Any) -> None:
    """ParseError unless the value survives json.dumps into UTF-8 and a PostgreSQL json column."""
    try:
        dumped = json.dumps(value, ensure_ascii=False, allow_nan=False)
        dumped.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise ParseError(f"content cannot be stored as JSON: {str(exc)[:120]}", code="unstorable") from None
    if "\\u0000" in dumped:
        raise ParseError("content holds a NUL character", code="unstorable")


# ------------------------------------------------------------------------------------------------ signals


def make_signal(
    *,
    source: str,
    type_: str,
    state: str,
    camera_ref: str | None,
    device_time: datetime | None,
    external_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> ParsedSignal:
    """The one way parsers build a ParsedSignal: checks what the dataclass promises (state, type, aware UTC
    time, storable strings and fields) and flags a missing time."""
    if state not in STATES:
        raise ParseError(f"state {state!r} is not one of start, stop, active", code="bad_state")
    if type_ not in KNOWN_TYPES and not type_.startswith("other:"):
        raise ParseError(f"type {type_!r} is not normalized", code="bad_type")
    if device_time is not None:
        device_time = to_utc(device_time)
    for label, ref in (("camera", camera_ref), ("event id", external_id)):
        if ref is not None and (len(ref) > MAX_REF or not ref.strip()):
            raise ParseError(f"{label} {ref[:40]!r}… is empty or longer than {MAX_REF} characters", "bad_ref")
    payload = dict(fields or {})
    ensure_storable([type_[:MAX_TYPE], camera_ref, external_id, payload])
    return ParsedSignal(
        source=source,
        type=type_[:MAX_TYPE],
        state=state,
        camera_ref=camera_ref,
        device_time=device_time,
        time_flagged=device_time is None,
        external_id=external_id,
        fields=payload,
    )


def compact(values: dict[str, Any]) -> dict[str, Any]:
    """The dict without None values and empty lists: fields hold only what the device said."""
    return {k: v for k, v in values.items() if v is not None and v != [] and v != {}}
