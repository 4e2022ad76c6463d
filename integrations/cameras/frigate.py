"""Frigate: a `frigate/events` MQTT message, `{"type": "new"|"update"|"end", "before": {…}, "after": {…}}`.

`after` describes the tracked object now: camera_ref is its camera, external_id the Frigate event id, the time
its start_time (end_time for an "end"). A detection is an "object" signal; one with a recognized license plate
is a "plate" read.

Comments: Frigate sends strict JSON, but its documentation's example (and hand-written test messages) carry
`//` and `/* */` comments. Stripping comments outside strings is harmless, so it is done: a "//" inside a
string (a URL) survives.

Privacy: a person's sub_label is a name from face recognition; this product does not identify people, so it
is not kept (other labels' sub_labels, such as a delivery company, are).
"""

from __future__ import annotations

import re
from typing import Any

from integrations.cameras import ParsedSignal, ParseError
from integrations.cameras.common import compact, from_epoch, json_number, load_json, make_signal

SOURCE = "frigate"
STATES = {"new": "start", "update": "active", "end": "stop"}
# A JSON string (kept as is), a // comment up to the end of its line, or a /* */ comment. An unterminated
# string or comment runs to the end of the text, which keeps the scan linear on hostile input.
_COMMENT_OR_STRING = re.compile(r'"(?:\\.|[^"\\])*(?:"|\Z)|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)


def parse(body: bytes, content_type: str | None) -> list[ParsedSignal]:
    """The one event of a frigate/events message."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"body is not UTF-8 (byte offset {exc.start})", code="bad_encoding") from None
    message = load_json(strip_comments(text))
    if not isinstance(message, dict):
        raise ParseError("a frigate/events message is a JSON object", code="bad_message")
    kind = message.get("type")
    state = STATES.get(kind) if isinstance(kind, str) else None
    if state is None:
        raise ParseError(f"type {str(kind)[:40]!r} is not new, update or end", code="bad_message")
    after = message.get("after")
    if not isinstance(after, dict):
        raise ParseError('the message has no "after" object', code="bad_message")
    camera = after.get("camera")
    if not isinstance(camera, str) or not camera.strip():
        raise ParseError('"after" has no camera name', code="missing_field")
    event_id = after.get("id")
    if event_id is not None and not (isinstance(event_id, str) and event_id.strip()):
        raise ParseError('"after.id" is not an event id', code="bad_ref")

    label = _str(after.get("label"))
    plate = _str(after.get("recognized_license_plate"))
    sub_label = after.get("sub_label")
    if isinstance(sub_label, list) and sub_label:  # Frigate >= 0.14: [name, score]
        sub_label = sub_label[0]
    fields = compact(
        {
            "vendor_type": label,
            "frigate_type": kind,
            "label": label,
            "sub_label": _str(sub_label) if label != "person" else None,
            "score": json_number(after.get("score")),
            "top_score": json_number(after.get("top_score")),
            "box": _box(after.get("box")),
            "region": _box(after.get("region")),
            "current_zones": _names(after.get("current_zones")),
            "entered_zones": _names(after.get("entered_zones")),
            "has_snapshot": _bool(after.get("has_snapshot")),
            "has_clip": _bool(after.get("has_clip")),
            "stationary": _bool(after.get("stationary")),
            "false_positive": _bool(after.get("false_positive")),
            "plate": plate,
            "plate_score": json_number(after.get("recognized_license_plate_score")),
        }
    )
    time_key = "end_time" if kind == "end" else "start_time"
    return [
        make_signal(
            source=SOURCE,
            type_="plate" if plate else "object",
            state=state,
            camera_ref=camera,
            device_time=from_epoch(after.get(time_key)),
            external_id=event_id,
            fields=fields,
        )
    ]


def strip_comments(text: str) -> str:
    """JSON text without // line comments and /* */ block comments; string contents are left alone."""
    return _COMMENT_OR_STRING.sub(lambda m: m[0] if m[0].startswith('"') else " ", text)


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _box(value: Any) -> list[int | float] | None:
    """[x1, y1, x2, y2] in pixels, or None for anything else."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    numbers = [json_number(v) for v in value]
    return None if any(v is None for v in numbers) else [v for v in numbers if v is not None]


def _names(value: Any) -> list[str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return list(value)
