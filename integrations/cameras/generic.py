"""The generic camera body, for devices and scripts that speak none of the vendor protocols:

    {"camera": ID, "type": "…", "time": ISO, "state"?, "lat"?, "lon"?, "clip_url"?, "snapshot_url"?,
     "external_id"?}

camera is a string or an integer; type is free text, normalized when it names a known type ("Line crossing",
"line-crossing" -> line_crossing), else kept as "other:<type>"; state defaults to active. This is our own
format, so it is checked strictly: a wrong type for a key is a ParseError, not silently dropped.
"""

from __future__ import annotations

from typing import Any

from integrations.cameras import ParsedSignal, ParseError
from integrations.cameras.common import (
    KNOWN_TYPES,
    STATES,
    compact,
    json_number,
    load_json,
    make_signal,
    normalize_type,
    other,
    parse_time,
)

SOURCE = "generic"
KEYS = frozenset({"camera", "type", "time", "state", "lat", "lon", "clip_url", "snapshot_url", "external_id"})


def parse(body: bytes, content_type: str | None) -> list[ParsedSignal]:
    """The one alarm of a generic body."""
    message = load_json(body)
    if not isinstance(message, dict):
        raise ParseError("the body is a JSON object", code="bad_message")
    camera = message.get("camera")
    if (
        isinstance(camera, bool)
        or not isinstance(camera, str | int)
        or (isinstance(camera, str) and not camera.strip())
    ):
        raise ParseError('"camera" (a string or an integer) is required', code="missing_field")
    raw_type = message.get("type")
    if not isinstance(raw_type, str) or not raw_type.strip():
        raise ParseError('"type" (text) is required', code="missing_field")
    normalized = normalize_type(raw_type)
    type_ = normalized if normalized in KNOWN_TYPES else other(raw_type)

    state = message.get("state", "active")
    if not isinstance(state, str) or state.strip().lower() not in STATES:
        raise ParseError(f'"state" {str(state)[:40]!r} is not start, stop or active', code="bad_state")
    time_text = message.get("time")
    if time_text is not None and not isinstance(time_text, str):
        raise ParseError('"time" is an ISO 8601 string', code="bad_time")
    external_id = message.get("external_id")
    if external_id is not None and (isinstance(external_id, bool) or not isinstance(external_id, str | int)):
        raise ParseError('"external_id" is a string or an integer', code="bad_ref")

    fields = compact(
        {
            "vendor_type": raw_type.strip(),
            "lat": _coordinate(message, "lat", 90),
            "lon": _coordinate(message, "lon", 180),
            "clip_url": _url(message, "clip_url"),
            "snapshot_url": _url(message, "snapshot_url"),
            "time_text": time_text if time_text is not None and parse_time(time_text) is None else None,
        }
    )
    extra = {k: v for k, v in message.items() if k not in KEYS}
    if extra:
        fields["extra"] = extra
    return [
        make_signal(
            source=SOURCE,
            type_=type_,
            state=state.strip().lower(),
            camera_ref=str(camera).strip(),
            device_time=parse_time(time_text),
            external_id=str(external_id) if external_id is not None else None,
            fields=fields,
        )
    ]


def _coordinate(message: dict[str, Any], key: str, limit: int) -> float | None:
    value = message.get(key)
    if value is None:
        return None
    number = json_number(value, limit)
    if number is None:
        raise ParseError(f'"{key}" is not a number between -{limit} and {limit}', code="bad_position")
    return float(number)


def _url(message: dict[str, Any], key: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ParseError(f'"{key}" is a URL string', code="bad_url")
    return value.strip()
