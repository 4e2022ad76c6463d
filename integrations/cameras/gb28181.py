"""GB/T 28181 MANSCDP alarm notification: `<Notify><CmdType>Alarm</CmdType>…</Notify>`.

The body is in the encoding its XML declaration names (GB2312 in practice, read as GB18030 because devices put
GBK characters in "GB2312" bodies); a declaration the bytes contradict is a ParseError, never a crash.
AlarmTime is the device's local time (Asia/Shanghai) unless it carries an offset. An alarm notification is a
one-shot event: state "active".

AlarmMethod (报警方式): 1 phone, 2 device, 3 SMS, 4 GPS, 5 video, 6 device fault, 7 other. Info/AlarmType
refines methods 2, 5 and 6 (GB/T 28181-2016 §A.2.6.4 and the notification's Info element).
"""

from __future__ import annotations

import re

from integrations.cameras import ParsedSignal, ParseError
from integrations.cameras.common import (
    child_text,
    compact,
    content_type_params,
    first_text,
    make_signal,
    number,
    other,
    parse_time,
    parse_xml,
)

SOURCE = "gb28181"

METHODS = {1: "phone", 2: "device", 3: "sms", 4: "gps", 5: "video", 6: "device_fault", 7: "other"}
# (AlarmMethod, AlarmType) -> normalized type; the names of the rest become "other:<name>".
ALARM_TYPES: dict[tuple[int, int], str] = {
    (2, 1): "video_loss",
    (2, 2): "tamper",  # 设备防拆报警
    (2, 3): "other:disk_full",
    (2, 4): "other:high_temperature",
    (2, 5): "other:low_temperature",
    (5, 1): "other:manual_video_alarm",
    (5, 2): "motion",
    (5, 3): "other:left_object",
    (5, 4): "other:object_removed",
    (5, 5): "line_crossing",  # 绊线
    (5, 6): "intrusion",
    (5, 7): "wrong_way",  # 逆行
    (5, 8): "loitering",
    (5, 9): "other:flow_statistics",
    (5, 10): "crowd",  # 密度检测
    (5, 11): "other:video_anomaly",
    (5, 12): "other:fast_moving",
    (6, 1): "other:disk_fault",
    (6, 2): "other:fan_fault",
}
_DEVICE_ID = re.compile(r"[0-9]{20}")


def parse(body: bytes, content_type: str | None) -> list[ParsedSignal]:
    """The one alarm of a Notify body. Another CmdType (Keepalive, Catalog, ...) is ParseError 'not_alarm'."""
    if not body.strip():
        raise ParseError("empty body", code="empty")
    root = parse_xml(body, content_type_params(content_type)[1].get("charset"))
    if root.tag != "Notify":
        raise ParseError(f"expected a MANSCDP <Notify>, got <{str(root.tag)[:60]}>", code="not_alarm")
    cmd_type = child_text(root, "CmdType")
    if (cmd_type or "").lower() != "alarm":
        raise ParseError(
            f"Notify with CmdType {cmd_type!r} is not an alarm (only CmdType Alarm is accepted here)", code="not_alarm"
        )
    device_id = child_text(root, "DeviceID")
    if device_id is None or not _DEVICE_ID.fullmatch(device_id):
        raise ParseError(f"DeviceID {str(device_id)[:40]!r} is not a 20-digit GB/T 28181 id", code="bad_device_id")
    sn = child_text(root, "SN")
    if sn is not None and len(sn) > 40:
        raise ParseError("SN is longer than 40 characters", code="bad_ref")

    method = _int(child_text(root, "AlarmMethod"))
    alarm_type = _int(child_text(root, "Info", "AlarmType") or child_text(root, "AlarmType"))
    event_type = _int(first_text(root, "EventType"))
    type_ = _type(method, alarm_type)
    time_text = child_text(root, "AlarmTime")
    device_time = parse_time(time_text)
    lon = number(child_text(root, "Longitude"))
    lat = number(child_text(root, "Latitude"))
    if lat is None or lon is None or (lat, lon) == (0, 0) or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None  # absent, the 0/0 of a device without GPS, or impossible

    fields = compact(
        {
            "vendor_type": f"method={method if method is not None else '?'};type={alarm_type or '-'}",
            "device_id": device_id,
            "device_type_code": device_id[10:13],  # 131/132 camera, 134 alarm input device, ...
            "sn": sn,
            "priority": _int(child_text(root, "AlarmPriority")),
            "method": method,
            "method_name": METHODS.get(method) if method is not None else None,
            "alarm_type": alarm_type,
            "event_type": event_type,
            "description": child_text(root, "AlarmDescription"),
            "lat": lat,
            "lon": lon,
            "time_text": time_text if device_time is None else None,  # kept when malformed, for operators
        }
    )
    return [
        make_signal(
            source=SOURCE,
            type_=type_,
            state="active",
            camera_ref=device_id,
            device_time=device_time,
            external_id=f"{device_id}:{sn}" if sn else None,
            fields=fields,
        )
    ]


def _int(text: str | None) -> int | None:
    value = number(text)
    return value if isinstance(value, int) else None


def _type(method: int | None, alarm_type: int | None) -> str:
    if method is None:
        return other("gb28181_alarm")
    if alarm_type is not None and (method, alarm_type) in ALARM_TYPES:
        return ALARM_TYPES[(method, alarm_type)]
    if method == 2 and alarm_type is None:
        # GB/T 28181-2011 has no AlarmType: a device alarm is an alarm input (sensor, button), the alarm of
        # the 134 "alarm input device" type; the 2016 types (video loss, tamper, ...) are mapped above.
        return "alarm_input"
    name = METHODS.get(method, f"method_{method}")
    return other(f"{name}_alarm" if alarm_type is None else f"{name}_alarm_{alarm_type}")
