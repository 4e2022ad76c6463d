"""Camera protocol parsers: each turns one HTTP body into normalized signals, or raises ParseError.

Parsers are pure (bytes in, dataclasses out): no database, no network. The gateway authenticates, calls the
parser named by the endpoint, and hands the results to models.intake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ParseError(ValueError):
    """The body cannot be understood. The message says what is wrong, for the 400 answer and the dead letter."""

    def __init__(self, message: str, code: str = "unparseable") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ParsedSignal:
    """One alarm, normalized.

    source: the protocol (hikvision, dahua, gb28181, frigate, generic).
    type: normalized event type: motion, line_crossing, intrusion, region_entrance, region_exit, loitering,
        crowd, pir, alarm_input, plate, face, object, fire, traffic_accident, congestion, wrong_way,
        illegal_parking, tamper, video_loss, or "other:<vendor type>" for anything else.
    state: start, stop or active (a one-shot event with no duration).
    camera_ref: the camera as the device names it: "<serial>:<channel>" (Hikvision, Dahua), the 20-digit
        GB/T 28181 device id, the Frigate camera name, the generic body's camera id. None if absent.
    device_time: aware datetime in UTC as the device stated it; None when missing or malformed (then
        time_flagged is True and the receipt time is used downstream).
    external_id: the device's own event id when it sends one (Frigate event id, GB SN, ...), else None.
    fields: everything else worth keeping, JSON-serialisable: region/box, plate, zone/line names, channel,
        ip, mac, snapshot_url, clip_url, lat, lon, vendor_type (the raw event type), description, priority...
    """

    source: str
    type: str
    state: str
    camera_ref: str | None
    device_time: datetime | None
    time_flagged: bool = False
    external_id: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
