"""Dahua eventManager: `Code=VideoMotion;action=Start;index=0[;data={json}]` records.

A body holds one or several records, one per line, each optionally followed by a `data=` JSON object that may
span lines; or it is a multipart/x-mixed-replace stream (`--myboundary` separators, Content-Type and
Content-Length headers in each part, sometimes without the blank line after them). Picture parts are
described in fields["attachments"] of the records before them. "Heartbeat" lines are skipped.

The body does not name the device: the gateway passes the serial it knows from the URL (`?device=SERIAL`).
Dahua's index is 0-based, channels are 1-based: camera_ref = f"{device}:{index + 1}".
"""

from __future__ import annotations

import re
from typing import Any

from integrations.cameras import ParsedSignal, ParseError
from integrations.cameras.common import (
    compact,
    from_epoch,
    load_json,
    make_signal,
    other,
    parse_time,
    parts_of,
)

SOURCE = "dahua"

CODES: dict[str, str] = {
    "VideoMotion": "motion",
    "SmartMotionHuman": "motion",
    "SmartMotionVehicle": "motion",
    "CrossLineDetection": "line_crossing",
    "CrossRegionDetection": "intrusion",
    "WanderDetection": "loitering",
    "CrowdDetection": "crowd",
    "RioterDetection": "crowd",
    "AlarmLocal": "alarm_input",
    "VideoBlind": "tamper",
    "VideoLoss": "video_loss",
    "FaceDetection": "face",
    "SmokeDetection": "fire",
    "FireDetection": "fire",
    "TrafficAccident": "traffic_accident",
    "TrafficJam": "congestion",
    "TrafficRetrograde": "wrong_way",
    "ParkingDetection": "illegal_parking",
}
# Traffic events are a case only with a plate: a junction passage is a plate read, a parking one illegal parking.
TRAFFIC_WITH_PLATE = {"TrafficJunction": "plate", "TrafficParking": "illegal_parking"}
ACTIONS = {"start": "start", "stop": "stop", "pulse": "active"}
_HEADER = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}[ \t]*:")


def parse(body: bytes, content_type: str | None, device: str | None = None) -> list[ParsedSignal]:
    """The events of one body. device: the serial from the URL, or None (then camera_ref is None)."""
    if not body.strip():
        raise ParseError("empty body", code="empty")
    if device is not None and (not device.strip() or len(device) > 100):
        raise ParseError("device serial is empty or too long", code="bad_ref")
    parts = parts_of(body, content_type)
    drafts: list[dict[str, Any]] = []
    if parts is None:
        drafts = _records(_text(body))
    else:
        pending: list[dict[str, Any]] = []  # pictures before the first record belong to it
        for part in parts:
            if part.is_image():
                target = drafts[-1]["attachments"] if drafts else pending
                target.append(part.describe())
                continue
            records = _records(_text(part.body))
            if records and pending:
                records[0]["attachments"] = pending
                pending = []
            drafts += records
    return [_signal(draft, device) for draft in drafts]


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"Dahua event text is not UTF-8 (byte offset {exc.start})", code="bad_encoding") from None


def _records(text: str) -> list[dict[str, Any]]:
    """Group lines into records: a record starts at a `Code=` line and takes the lines after it (its data
    JSON) up to the next record. Lines before the first record must be part headers, blank or Heartbeat."""
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Code="):
            current = [stripped]
            records.append(current)
        elif stripped.lower() == "heartbeat":
            current = None
        elif current is not None:
            current.append(line)
        elif stripped and not _HEADER.match(stripped):
            raise ParseError(f"unexpected line before the first Code=…: {stripped[:60]!r}", code="bad_record")
    return [_record("\n".join(lines).strip()) for lines in records]


def _record(text: str) -> dict[str, Any]:
    head, sep, data_text = text.partition(";data=")
    if "\n" in head:
        raise ParseError(f"record {head[:60]!r}… has text after it that is not data=", code="bad_record")
    pairs: dict[str, str] = {}
    for item in head.split(";"):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq:
            raise ParseError(f"record item {item[:40]!r} is not key=value", code="bad_record")
        pairs[key.strip().lower()] = value.strip()
    code = pairs.pop("code", "")
    if not code:
        raise ParseError("record with an empty Code", code="bad_record")
    raw_action = pairs.pop("action", "Pulse")
    state = ACTIONS.get(raw_action.lower())
    if state is None:
        raise ParseError(f"action {raw_action[:40]!r} is not Start, Stop or Pulse", code="bad_state")
    raw_index = pairs.pop("index", None)
    if raw_index is None or not re.fullmatch(r"[0-9]{1,5}", raw_index):
        raise ParseError(f"index {str(raw_index)[:40]!r} is not a channel index", code="bad_channel")
    data: dict[str, Any] = {}
    if sep:
        loaded = load_json(data_text.strip())
        if not isinstance(loaded, dict):
            raise ParseError("data= is not a JSON object", code="bad_record")
        data = loaded
    return {"code": code, "state": state, "index": int(raw_index), "data": data, "extra": pairs, "attachments": []}


def _signal(draft: dict[str, Any], device: str | None) -> ParsedSignal:
    code: str = draft["code"]
    data: dict[str, Any] = draft["data"]
    channel = draft["index"] + 1
    plate = _plate(data)
    if code in TRAFFIC_WITH_PLATE:
        type_ = TRAFFIC_WITH_PLATE[code] if plate else other(code)
    else:
        type_ = CODES.get(code) or other(code)
    locale_time = data.get("LocaleTime") if isinstance(data.get("LocaleTime"), str) else None
    device_time = from_epoch(data.get("UTC")) or parse_time(locale_time)
    objects = data.get("Objects") if isinstance(data.get("Objects"), list) else None
    if objects is None and isinstance(data.get("Object"), dict):
        objects = [data["Object"]]
    fields = compact(
        {
            "vendor_type": code,
            "channel": channel,
            "index": draft["index"],
            "rule": data.get("Name") if isinstance(data.get("Name"), str) else None,
            "objects": objects,
            "plate": plate,
            "event_id": data.get("EventID") if isinstance(data.get("EventID"), int | str) else None,
            "locale_time": locale_time,
            "data": data,
            "extra": draft["extra"],
            "attachments": draft["attachments"],
        }
    )
    return make_signal(
        source=SOURCE,
        type_=type_,
        state=draft["state"],
        camera_ref=f"{device}:{channel}" if device is not None else None,
        device_time=device_time,
        fields=fields,
    )


def _plate(data: dict[str, Any]) -> str | None:
    """The plate of a traffic event: TrafficCar.PlateNumber, a top-level PlateNumber, or a Plate object's Text."""
    car = data.get("TrafficCar")
    obj = data.get("Object")
    candidates = [
        car.get("PlateNumber") if isinstance(car, dict) else None,
        data.get("PlateNumber"),
        obj.get("Text") if isinstance(obj, dict) and obj.get("ObjectType") == "Plate" else None,
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None
