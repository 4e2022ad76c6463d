"""Realistic alarms in each vendor's own format, for `xueliang simulate` (the demo's live traffic), the intake
benchmark and the crash tests. Bodies are built from the registered cameras, so they become cases."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from models.db import Database
from models.org import Camera

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
HIK_TYPES = ("fielddetection", "linedetection", "VMD", "regionEntrance", "loitering")
DAHUA_CODES = ("VideoMotion", "CrossLineDetection", "CrossRegionDetection", "AlarmLocal")
GB_TYPES = ((5, 2), (5, 5), (5, 6), (5, 8), (5, 10))  # (method, type): motion, tripwire, intrusion, loiter, crowd
FRIGATE_LABELS = ("person", "car", "bicycle")
_SN = itertools.count(1)  # GB/T 28181 SN: a sequence number


@dataclass(frozen=True)
class Alarm:
    vendor: str
    path: str  # endpoint path with query
    content_type: str
    body: bytes


@dataclass(frozen=True)
class CameraRef:
    id: int
    vendor: str
    external_id: str
    gb_device_id: str | None


def load_cameras(db: Database) -> list[CameraRef]:
    with db.read() as session:
        rows = session.execute(select(Camera).order_by(Camera.id)).scalars()
        return [CameraRef(c.id, c.vendor, c.external_id, c.gb_device_id) for c in rows]


def _hikvision(cam: CameraRef, when: datetime, rng: random.Random) -> Alarm:
    serial, _, channel = cam.external_id.rpartition(":")
    kind = rng.choice(HIK_TYPES)
    local = when.astimezone(LOCAL_TZ).isoformat(timespec="seconds")
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}</ipAddress>
<portNo>80</portNo><protocol>HTTP</protocol><macAddress>44:19:b6:{rng.randrange(256):02x}:00:01</macAddress>
<channelID>{channel or 1}</channelID><dateTime>{local}</dateTime><activePostCount>1</activePostCount>
<eventType>{kind}</eventType><eventState>active</eventState><eventDescription>{kind} alarm</eventDescription>
<channelName>Camera {channel}</channelName>
<DetectionRegionList><DetectionRegionEntry><regionID>1</regionID><sensitivityLevel>50</sensitivityLevel>
<RegionCoordinatesList><RegionCoordinates><positionX>120</positionX><positionY>80</positionY></RegionCoordinates>
<RegionCoordinates><positionX>640</positionX><positionY>420</positionY></RegionCoordinates></RegionCoordinatesList>
<detectionTarget>human</detectionTarget></DetectionRegionEntry></DetectionRegionList>
<Extensions><serialNumber>{serial}</serialNumber></Extensions>
</EventNotificationAlert>"""
    return Alarm("hikvision", "/ingest/hikvision", "application/xml", body.encode())


def _dahua(cam: CameraRef, when: datetime, rng: random.Random) -> Alarm:
    serial, _, channel = cam.external_id.rpartition(":")
    code = rng.choice(DAHUA_CODES)
    data = {"UTC": int(when.timestamp()), "Name": f"Rule{rng.randrange(1, 4)}", "EventID": rng.randrange(1, 10**6)}
    body = f"Code={code};action=Start;index={int(channel or 1) - 1};data={json.dumps(data)}"
    return Alarm("dahua", f"/ingest/dahua?device={serial}", "text/plain", body.encode())


def _gb28181(cam: CameraRef, when: datetime, rng: random.Random) -> Alarm:
    method, kind = rng.choice(GB_TYPES)
    local = when.astimezone(LOCAL_TZ).strftime("%Y-%m-%dT%H:%M:%S")
    body = f"""<?xml version="1.0" encoding="GB2312"?>
<Notify><CmdType>Alarm</CmdType><SN>{next(_SN)}</SN><DeviceID>{cam.gb_device_id}</DeviceID>
<AlarmPriority>{rng.randrange(1, 5)}</AlarmPriority><AlarmMethod>{method}</AlarmMethod><AlarmTime>{local}</AlarmTime>
<AlarmDescription>视频报警</AlarmDescription><Info><AlarmType>{kind}</AlarmType></Info></Notify>"""
    return Alarm("gb28181", "/ingest/gb28181", "application/MANSCDP+xml", body.encode("gb2312"))


def _frigate(cam: CameraRef, when: datetime, rng: random.Random) -> Alarm:
    event_id = f"{when.timestamp():.6f}-{rng.randrange(16**6):06x}"
    after = {
        "id": event_id,
        "camera": cam.external_id,
        "label": rng.choice(FRIGATE_LABELS),
        "score": 0.8,
        "top_score": 0.85,
        "start_time": when.timestamp(),
        "end_time": None,
        "false_positive": False,
        "current_zones": ["entrance"],
        "entered_zones": ["entrance"],
        "has_snapshot": True,
        "has_clip": True,
        "box": [300, 120, 420, 400],
        "region": [200, 60, 520, 460],
        "stationary": False,
    }
    body = json.dumps({"type": "new", "before": after, "after": after})
    return Alarm("frigate", "/ingest/frigate", "application/json", body.encode())


def _generic(cam: CameraRef, when: datetime, rng: random.Random) -> Alarm:
    body = json.dumps({"camera": cam.id, "type": rng.choice(("intrusion", "fire", "crowd")), "time": when.isoformat()})
    return Alarm("generic", "/ingest/generic", "application/json", body.encode())


BUILDERS = {"hikvision": _hikvision, "dahua": _dahua, "gb28181": _gb28181, "frigate": _frigate, "generic": _generic}


def make_alarms(
    cameras: list[CameraRef], count: int, start: datetime | None = None, seed: int = 1, repeat_share: float = 0.0
) -> list[Alarm]:
    """`count` distinct alarms from the cameras, one second apart in device time. With `repeat_share`, that
    share of them comes from a small set of busy cameras (repeated alarms that correlate into open cases)."""
    rng = random.Random(seed)
    start = start or datetime.now(UTC)
    busy = cameras[: max(1, len(cameras) // 20)]
    alarms = []
    for i in range(count):
        cam = rng.choice(busy) if rng.random() < repeat_share else rng.choice(cameras)
        builder = BUILDERS.get(cam.vendor, _generic)
        alarms.append(builder(cam, start + timedelta(seconds=i), rng))
    return alarms
