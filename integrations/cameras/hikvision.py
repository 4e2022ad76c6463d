"""Hikvision ISAPI: EventNotificationAlert XML, one per body or several in a multipart body.

A camera or NVR posts one alert (HTTP host notification), or a multipart body: the alertStream
(multipart/mixed, one XML part per alert) or an NVR's multipart/form-data POST where one part is the XML and
others are JPEG pictures. Pictures are described in fields["attachments"] (name, size, content type) of the
alert they follow; their bytes stay in the raw body the gateway keeps.

The namespace varies (ver20, ver10, urn:psialliance-org, none) and so does the case of some tags: both are
ignored. `eventState` "active" (with activePostCount counting the posts while the event lasts) means the event
is happening: state "active"; "inactive" means it ended: state "stop". Hikvision sends no separate start.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from integrations.cameras import ParsedSignal, ParseError
from integrations.cameras.common import (
    Part,
    channel_number,
    child_text,
    children,
    compact,
    descendants,
    first_text,
    make_signal,
    number,
    other,
    parse_time,
    parse_xml,
    parts_of,
    text_of,
)

SOURCE = "hikvision"

# eventType (lowercased) -> normalized type. ANPR and vehicle detection are a plate read only with a plate.
EVENT_TYPES: dict[str, str] = {
    "vmd": "motion",
    "motiondetection": "motion",
    "linedetection": "line_crossing",
    "fielddetection": "intrusion",
    "regionentrance": "region_entrance",
    "regionexiting": "region_exit",
    "loitering": "loitering",
    "pir": "pir",
    "io": "alarm_input",
    "shelteralarm": "tamper",
    "tamperdetection": "tamper",
    "scenechangedetection": "tamper",
    "defocus": "tamper",
    "videoloss": "video_loss",
    "facedetection": "face",
    "facesnap": "face",
    "parking": "illegal_parking",
    "illegalparking": "illegal_parking",
    "retrograde": "wrong_way",
    "wrongdirection": "wrong_way",
    "congestion": "congestion",
    "trafficaccident": "traffic_accident",
    "firedetection": "fire",
    "smokedetection": "fire",
    "smokeandfiredetection": "fire",
}
PLATE_EVENTS = frozenset({"anpr", "vehicledetection"})
EVENT_STATES = {"active": "active", "inactive": "stop"}


def parse(body: bytes, content_type: str | None) -> list[ParsedSignal]:
    """The alerts of one POST body. Raises ParseError for anything that is not an EventNotificationAlert."""
    if not body.strip():
        raise ParseError("empty body", code="empty")
    parts = parts_of(body, content_type)
    if parts is None:
        return [_signal(parse_xml(body), [])]
    drafts: list[tuple[Element, list[dict[str, Any]]]] = []
    orphans: list[dict[str, Any]] = []  # pictures before the first alert belong to it
    for part in parts:
        if _is_xml(part):
            drafts.append((parse_xml(part.body.strip(), part.charset), orphans if not drafts else []))
        elif drafts:
            drafts[-1][1].append(part.describe())
        else:
            orphans.append(part.describe())
    if not drafts:
        raise ParseError("multipart body holds no EventNotificationAlert XML part", code="no_events")
    return [_signal(root, attachments) for root, attachments in drafts]


def _is_xml(part: Part) -> bool:
    if part.is_image():
        return False
    return "xml" in part.content_type or part.body.lstrip().startswith(b"<")


def _signal(root: Element, attachments: list[dict[str, Any]]) -> ParsedSignal:
    if root.tag != "EventNotificationAlert":
        raise ParseError(f"expected <EventNotificationAlert>, got <{str(root.tag)[:60]}>", code="not_alarm")
    vendor_type = child_text(root, "eventType")
    if vendor_type is None:
        raise ParseError("EventNotificationAlert without eventType", code="missing_field")
    # A "duration" alert reports how long another event lasted: its relationEvent is the event.
    relation = first_text(root, "relationEvent") if vendor_type.lower() == "duration" else None
    plate = _plate(root)
    type_ = _type(relation or vendor_type, plate)

    raw_state = child_text(root, "eventState")
    state = EVENT_STATES.get((raw_state or "active").lower())
    if state is None:
        raise ParseError(f"eventState {raw_state[:40]!r} is neither active nor inactive", code="bad_state")

    serial = first_text(root, "serialNumber", "serialNo")
    mac = child_text(root, "macAddress")
    channel = channel_number(child_text(root, "channelID") or child_text(root, "dynChannelID"))
    device = serial or (f"mac:{mac.lower()}" if mac else None)
    camera_ref = f"{device}:{channel}" if device else None
    time_text = child_text(root, "dateTime")
    device_time = parse_time(time_text)

    fields = compact(
        {
            "vendor_type": vendor_type,
            "relation_event": relation,
            "channel": channel,
            "channel_name": child_text(root, "channelName"),
            "serial": serial,
            "mac": mac.lower() if mac else None,
            "ip": child_text(root, "ipAddress"),
            "ipv6": child_text(root, "ipv6Address"),
            "description": child_text(root, "eventDescription"),
            "active_post_count": number(child_text(root, "activePostCount")),
            "io_port": child_text(root, "inputIOPortID"),
            "target_type": first_text(root, "detectionTarget", "targetType"),
            "regions": _regions(root),
            "plate": plate,
            "retransmission": (child_text(root, "isDataRetransmission") or "").lower() == "true" or None,
            "attachments": attachments,
            "time_text": time_text if device_time is None else None,  # kept when malformed, for operators
        }
    )
    return make_signal(
        source=SOURCE,
        type_=type_,
        state=state,
        camera_ref=camera_ref,
        device_time=device_time,
        fields=fields,
    )


def _type(vendor_type: str, plate: str | None) -> str:
    key = vendor_type.lower()
    if key in PLATE_EVENTS:
        return "plate" if plate else other(vendor_type)
    return EVENT_TYPES.get(key) or other(vendor_type)


def _plate(root: Element) -> str | None:
    plate = first_text(root, "licensePlate", "plateNo", "plateNumber")
    if plate is None or plate.lower() in {"unknown", "noplate"}:
        return None
    return plate


def _regions(root: Element) -> list[dict[str, Any]]:
    """Detection regions with their polygon (device coordinates, usually 0..1000), sensitivity, the target
    class and the target's rectangle when the device says. Points that are not numbers are left out."""
    regions: list[dict[str, Any]] = []
    for entry in descendants(root, "DetectionRegionEntry"):
        rect = next(children(entry, "TargetRect"), None)
        regions.append(
            compact(
                {
                    "id": child_text(entry, "regionID"),
                    "sensitivity": number(child_text(entry, "sensitivityLevel")),
                    "points": _points(entry),
                    "target_type": child_text(entry, "detectionTarget") or child_text(entry, "targetType"),
                    "target_rect": compact(
                        {k.lower(): number(child_text(rect, k)) for k in ("X", "Y", "width", "height")}
                    )
                    if rect is not None
                    else None,
                }
            )
        )
    regions = [region for region in regions if region]
    if not regions:  # some firmwares send a bare regionCoordinatesList
        points = _points(root)
        if points:
            regions.append({"points": points})
    return regions


def _points(element: Element) -> list[list[int | float]]:
    points: list[list[int | float]] = []
    for node in descendants(element, "RegionCoordinates"):
        x = number(text_of(next(children(node, "positionX"), None)))
        y = number(text_of(next(children(node, "positionY"), None)))
        if x is not None and y is not None:
            points.append([x, y])
    return points
