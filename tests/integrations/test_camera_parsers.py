"""The camera parsers against the real third-party samples in ../shared/fixtures, and against bodies built here
for what the samples do not cover (multipart streams, GB2312 text, plates, malformed times)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from integrations.cameras import ParsedSignal, ParseError, dahua, frigate, gb28181, generic, hikvision
from integrations.cameras.common import find_boundary, parse_time, split_multipart
from tests.conftest import needs_fixtures

HIK_NS20 = "http://www.hikvision.com/ver20/XMLSchema"
HIK_NS10 = "http://www.hikvision.com/ver10/XMLSchema"
DAHUA_STREAM = "multipart/x-mixed-replace; boundary=myboundary"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def storable(signals: list[ParsedSignal]) -> list[ParsedSignal]:
    """Every fields dict must survive strict JSON (no NaN), as the database stores it."""
    for signal in signals:
        json.dumps(signal.fields, allow_nan=False, ensure_ascii=False).encode("utf-8")
    return signals


# ================================================================================================ hikvision


def test_hikvision_fixture_vmd():
    body = needs_fixtures("hikvision", "vmd.xml").read_bytes()
    assert storable(hikvision.parse(body, "application/xml")) == [
        ParsedSignal(
            source="hikvision",
            type="motion",
            state="active",
            camera_ref="mac:a6:63:9e:f8:01:09:1",  # no serial in the body; dynChannelID 1
            device_time=utc(2025, 3, 5, 10, 47, 40),
            time_flagged=False,
            external_id=None,
            fields={
                "vendor_type": "VMD",
                "channel": 1,
                "mac": "a6:63:9e:f8:01:09",
                "ip": "1.0.0.255",
                "description": "Motion alarm",
                "active_post_count": 1,
            },
        )
    ]


def test_hikvision_fixture_fielddetection_human():
    body = needs_fixtures("hikvision", "fielddetection_human.xml").read_bytes()
    assert storable(hikvision.parse(body, None)) == [
        ParsedSignal(
            source="hikvision",
            type="intrusion",
            state="active",
            camera_ref="mac:ac:b9:2f:49:44:75:1",
            device_time=utc(2022, 1, 31, 12, 53, 5),  # 13:53:05+01:00
            time_flagged=False,
            external_id=None,
            fields={
                "vendor_type": "fielddetection",
                "channel": 1,
                "channel_name": "COUR NORD",
                "mac": "ac:b9:2f:49:44:75",
                "ip": "1.0.0.255",
                "ipv6": "::ffff:192.168.2.5",
                "description": "fielddetection alarm",
                "active_post_count": 1,
                "target_type": "human",
                "regions": [
                    {
                        "id": "3",
                        "sensitivity": 50,
                        "points": [[572, 100], [572, 995], [999, 998], [992, 210]],
                        "target_type": "human",
                        "target_rect": {"x": 0.6, "y": 0.215278, "width": 0.135937, "height": 0.505556},
                    }
                ],
            },
        )
    ]


def test_hikvision_fixture_duration_alert_takes_its_relation_event():
    body = needs_fixtures("hikvision", "ipc_1_fielddetection.xml").read_bytes()
    assert storable(hikvision.parse(body, "application/xml; charset=UTF-8")) == [
        ParsedSignal(
            source="hikvision",
            type="intrusion",  # eventType "duration", relationEvent fielddetection
            state="active",
            camera_ref="mac:a6:63:9e:f8:01:09:1",
            device_time=utc(2023, 1, 23, 22, 27, 25),
            time_flagged=False,
            external_id=None,
            fields={
                "vendor_type": "duration",
                "relation_event": "fielddetection",
                "channel": 1,
                "channel_name": "yard",
                "mac": "a6:63:9e:f8:01:09",
                "ip": "1.0.0.255",
                "description": "duration alarm",
                "active_post_count": 1,
            },
        )
    ]


def test_hikvision_fixture_pir_uses_the_serial_from_extensions():
    body = needs_fixtures("hikvision", "pir.xml").read_bytes()  # psialliance namespace, serial in Extensions
    assert storable(hikvision.parse(body, "application/xml")) == [
        ParsedSignal(
            source="hikvision",
            type="pir",
            state="active",
            camera_ref="DS-2CD2443G0-IW00000000AAWRE00000000:1",
            device_time=utc(2023, 4, 6, 21, 22, 21),
            time_flagged=False,
            external_id=None,
            fields={
                "vendor_type": "PIR",
                "channel": 1,
                "channel_name": "Bedroom",
                "serial": "DS-2CD2443G0-IW00000000AAWRE00000000",
                "mac": "c6:e6:61:0a:46:37",
                "ip": "1.0.0.255",
                "description": "PIR alarm",
                "active_post_count": 4268,
            },
        )
    ]


def hik_alert(
    event_type: str,
    state: str = "active",
    time: str = "2023-05-12T14:12:22+08:00",
    *,
    ns: str | None = HIK_NS20,
    channel: str = "<channelID>1</channelID>",
    extra: str = "",
) -> bytes:
    xmlns = f' xmlns="{ns}"' if ns else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<EventNotificationAlert version="2.0"{xmlns}>\n'
        f"<ipAddress>10.0.0.8</ipAddress>\n<macAddress>44:19:B6:00:00:01</macAddress>\n{channel}\n"
        f"<dateTime>{time}</dateTime>\n<activePostCount>1</activePostCount>\n<eventType>{event_type}</eventType>\n"
        f"<eventState>{state}</eventState>\n{extra}\n</EventNotificationAlert>\n"
    ).encode()


def multipart(boundary: str, parts: list[tuple[list[str], bytes]], closing: bool = True) -> bytes:
    out = b""
    for headers, content in parts:
        head = "".join(f"{h}\r\n" for h in [*headers, f"Content-Length: {len(content)}"])
        out += f"--{boundary}\r\n{head}\r\n".encode() + content + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if closing else b"")


LINE_EXTRA = """
<Extensions><serialNumber>DS-2CD2T47G2-L20240315AACH720000000</serialNumber></Extensions>
<DetectionRegionList><DetectionRegionEntry><regionID>1</regionID>
<RegionCoordinatesList>
<RegionCoordinates><positionX>100</positionX><positionY>200</positionY></RegionCoordinates>
<RegionCoordinates><positionX>900</positionX><positionY>200</positionY></RegionCoordinates>
</RegionCoordinatesList><targetType>vehicle</targetType></DetectionRegionEntry></DetectionRegionList>
"""


def test_hikvision_alert_stream_with_several_alerts_and_a_picture():
    body = multipart(
        "boundary",
        [
            (['Content-Type: application/xml; charset="UTF-8"'], hik_alert("VMD", ns=HIK_NS10)),
            (
                ["Content-Type: application/xml"],
                hik_alert(
                    "linedetection",
                    time="2023-05-12T14:12:23+08:00",
                    ns=None,
                    channel="<channelID>2</channelID>",
                    extra=LINE_EXTRA,
                ),
            ),
            (["Content-Type: image/jpeg", 'Content-Disposition: attachment; filename="line.jpg"'], JPEG),
            (["Content-Type: application/xml"], hik_alert("videoloss", "inactive", "2023-05-12T14:12:24+08:00")),
        ],
    )
    signals = storable(hikvision.parse(body, "multipart/mixed; boundary=boundary"))
    assert [(s.type, s.state, s.camera_ref, s.device_time) for s in signals] == [
        ("motion", "active", "mac:44:19:b6:00:00:01:1", utc(2023, 5, 12, 6, 12, 22)),
        ("line_crossing", "active", "DS-2CD2T47G2-L20240315AACH720000000:2", utc(2023, 5, 12, 6, 12, 23)),
        ("video_loss", "stop", "mac:44:19:b6:00:00:01:1", utc(2023, 5, 12, 6, 12, 24)),
    ]
    line = signals[1].fields
    assert line["target_type"] == "vehicle"
    assert line["regions"] == [{"id": "1", "points": [[100, 200], [900, 200]], "target_type": "vehicle"}]
    assert line["attachments"] == [
        {"name": "line.jpg", "filename": "line.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    ]
    assert "attachments" not in signals[0].fields and "attachments" not in signals[2].fields


def test_hikvision_nvr_form_data_post_with_pictures():
    body = multipart(
        "MIME_boundary",
        [
            (
                ['Content-Disposition: form-data; name="linedetection"', "Content-Type: application/xml"],
                hik_alert("linedetection", channel="<dynChannelID>5</dynChannelID>"),
            ),
            (
                [
                    'Content-Disposition: form-data; name="linedetectionImage"; filename="linedetectionImage.jpg"',
                    "Content-Type: image/jpeg",
                ],
                JPEG,
            ),
            (['Content-Disposition: form-data; name="backgroundImage"', "Content-Type: image/jpeg"], JPEG[:100]),
        ],
    )
    [signal] = storable(hikvision.parse(body, "multipart/form-data; boundary=MIME_boundary"))
    assert (signal.type, signal.state, signal.camera_ref) == ("line_crossing", "active", "mac:44:19:b6:00:00:01:5")
    assert signal.fields["attachments"] == [
        {
            "name": "linedetectionImage",
            "filename": "linedetectionImage.jpg",
            "content_type": "image/jpeg",
            "size": len(JPEG),
        },
        {"name": "backgroundImage", "filename": None, "content_type": "image/jpeg", "size": 100},
    ]


def test_hikvision_picture_before_the_xml_belongs_to_the_first_alert():
    body = multipart("b", [(["Content-Type: image/jpeg"], JPEG), (["Content-Type: text/xml"], hik_alert("VMD"))])
    [signal] = hikvision.parse(body, "multipart/form-data; boundary=b")
    assert signal.fields["attachments"][0]["size"] == len(JPEG)


def test_hikvision_multipart_boundary_recovered_from_the_body():
    body = multipart("xyz", [(["Content-Type: application/xml"], hik_alert("VMD"))], closing=False)
    assert [s.type for s in hikvision.parse(body, None)] == ["motion"]
    assert [s.type for s in hikvision.parse(body, "multipart/mixed")] == ["motion"]  # header lost the boundary


@pytest.mark.parametrize(
    ("event_type", "extra", "expected"),
    [
        ("ANPR", "<ANPR><licensePlate>鲁Q12345</licensePlate><plateColor>blue</plateColor></ANPR>", "plate"),
        ("ANPR", "<ANPR><licensePlate>unknown</licensePlate></ANPR>", "other:ANPR"),
        ("vehicleDetection", "<plateNo>鲁QD8888</plateNo>", "plate"),
        ("regionEntrance", "", "region_entrance"),
        ("regionExiting", "", "region_exit"),
        ("loitering", "", "loitering"),
        ("IO", "<inputIOPortID>2</inputIOPortID>", "alarm_input"),
        ("shelteralarm", "", "tamper"),
        ("facedetection", "", "face"),
        ("audioexception", "", "other:audioexception"),
    ],
)
def test_hikvision_event_types(event_type, extra, expected):
    [signal] = storable(hikvision.parse(hik_alert(event_type, extra=extra), "application/xml"))
    assert signal.type == expected
    assert signal.fields["vendor_type"] == event_type


def test_hikvision_plate_and_io_port_are_kept():
    [anpr] = hikvision.parse(hik_alert("ANPR", extra="<ANPR><licensePlate>鲁Q12345</licensePlate></ANPR>"), None)
    assert anpr.fields["plate"] == "鲁Q12345"
    [io] = hikvision.parse(hik_alert("IO", extra="<inputIOPortID>2</inputIOPortID>"), None)
    assert io.fields["io_port"] == "2"


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        ("2023-05-12T14:12:22+08:00", utc(2023, 5, 12, 6, 12, 22)),
        ("2023-05-12T14:12:22", utc(2023, 5, 12, 6, 12, 22)),  # no offset: Asia/Shanghai
        ("2023-05-12T06:12:22Z", utc(2023, 5, 12, 6, 12, 22)),
        ("2023-05-12T14:12:22+8:00", utc(2023, 5, 12, 6, 12, 22)),  # sloppy offset
        ("2023-05-12T14:12:22+0800", utc(2023, 5, 12, 6, 12, 22)),
    ],
)
def test_hikvision_times(time, expected):
    [signal] = hikvision.parse(hik_alert("VMD", time=time), None)
    assert (signal.device_time, signal.time_flagged) == (expected, False)


@pytest.mark.parametrize("time", ["2023-13-45T99:00:00+08:00", "yesterday", "2023-05-12", ""])
def test_hikvision_malformed_time_is_flagged_not_refused(time):
    [signal] = hikvision.parse(hik_alert("VMD", time=time), None)
    assert signal.device_time is None
    assert signal.time_flagged is True
    assert signal.fields.get("time_text") == (time or None)


def test_hikvision_missing_channel_defaults_to_1_and_bad_channel_is_refused():
    [signal] = hikvision.parse(hik_alert("VMD", channel=""), None)
    assert signal.camera_ref == "mac:44:19:b6:00:00:01:1"
    with pytest.raises(ParseError) as err:
        hikvision.parse(hik_alert("VMD", channel="<channelID>99999999999999999999</channelID>"), None)
    assert err.value.code == "bad_channel"


def test_hikvision_without_serial_or_mac_has_no_camera_ref():
    body = b"<EventNotificationAlert><eventType>VMD</eventType><eventState>active</eventState></EventNotificationAlert>"
    [signal] = hikvision.parse(body, None)
    assert (signal.camera_ref, signal.state, signal.device_time, signal.time_flagged) == (None, "active", None, True)


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"", None, "empty"),
        (b"<ResponseStatus><statusCode>1</statusCode></ResponseStatus>", None, "not_alarm"),
        (b"<EventNotificationAlert><eventState>active</eventState></EventNotificationAlert>", None, "missing_field"),
        (b"<EventNotificationAlert><eventType>VMD</eventType>", None, "bad_xml"),
        (hik_alert("VMD", state="sort-of"), None, "bad_state"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<EventNotificationAlert><eventType>&lol2;</eventType></EventNotificationAlert>",
            None,
            "forbidden_xml",
        ),
        (multipart("b", [(["Content-Type: image/jpeg"], JPEG)]), "multipart/mixed; boundary=b", "no_events"),
        (b"not xml at all", "multipart/mixed", "bad_multipart"),
        (hik_alert("VMD").replace(b"UTF-8", b"EBCDIC"), None, "bad_encoding"),
    ],
)
def test_hikvision_refusals(body, content_type, code):
    with pytest.raises(ParseError) as err:
        hikvision.parse(body, content_type)
    assert err.value.code == code
    assert str(err.value)


# ================================================================================================ dahua

DAHUA_FIXTURES = [
    ("cameraevents_alarm_local_start.txt", "alarm_input", "start", "AlarmLocal"),
    ("cameraevents_video_motion_start.txt", "motion", "start", "VideoMotion"),
    ("cameraevents_video_motion_stop.txt", "motion", "stop", "VideoMotion"),
]


@pytest.mark.parametrize(("name", "type_", "state", "code"), DAHUA_FIXTURES)
@pytest.mark.parametrize("content_type", [DAHUA_STREAM, None, "text/plain"])
def test_dahua_fixtures(name, type_, state, code, content_type):
    # The CameraEvents samples: a `--myboundary` part whose Content-Length header is followed by the record
    # without a blank line, and whose Content-Length is wrong for two of them (37 for 36 bytes).
    body = needs_fixtures("dahua", name).read_bytes()
    assert storable(dahua.parse(body, content_type, device="7J0A1B2PAZ300000")) == [
        ParsedSignal(
            source="dahua",
            type=type_,
            state=state,
            camera_ref="7J0A1B2PAZ300000:2",  # index=1 is the second channel
            device_time=None,
            time_flagged=True,  # the record carries no time
            external_id=None,
            fields={"vendor_type": code, "channel": 2, "index": 1},
        )
    ]


def test_dahua_fixture_without_device_has_no_camera_ref_but_a_channel():
    body = needs_fixtures("dahua", "cameraevents_video_motion_start.txt").read_bytes()
    [signal] = dahua.parse(body, DAHUA_STREAM)
    assert (signal.camera_ref, signal.fields["channel"]) == (None, 2)


CROSSLINE = (
    b"Code=CrossLineDetection;action=Start;index=1;data={\n"
    b'   "Class" : "Normal",\n'
    b'   "Name" : "\xe4\xb8\x9c\xe9\x97\xa8\xe7\xbb\x8a\xe7\xba\xbf",\n'  # 东门绊线, UTF-8
    b'   "Object" : { "BoundingBox" : [ 2992, 1136, 4960, 5192 ], "ObjectType" : "Human", "ObjectID" : 542 },\n'
    b'   "EventID" : 10042,\n'
    b'   "UTC" : 1683871942,\n'
    b'   "LocaleTime" : "2023-05-12 14:12:22"\n'
    b"}\r\n"
)


def test_dahua_mixed_replace_stream_of_three_events():
    body = multipart(
        "myboundary",
        [
            (["Content-Type: text/plain"], b"Code=VideoMotion;action=Start;index=0\r\n"),
            (["Content-Type: text/plain"], CROSSLINE),
            (["Content-Type: text/plain"], b"Code=VideoMotion;action=Stop;index=0\r\n"),
        ],
        closing=False,
    )
    signals = storable(dahua.parse(body, DAHUA_STREAM, device="7J0A1B2PAZ300000"))
    assert [(s.type, s.state, s.camera_ref, s.device_time, s.time_flagged) for s in signals] == [
        ("motion", "start", "7J0A1B2PAZ300000:1", None, True),
        ("line_crossing", "start", "7J0A1B2PAZ300000:2", utc(2023, 5, 12, 6, 12, 22), False),
        ("motion", "stop", "7J0A1B2PAZ300000:1", None, True),
    ]
    line = signals[1].fields
    assert line["rule"] == "东门绊线"
    assert line["objects"] == [{"BoundingBox": [2992, 1136, 4960, 5192], "ObjectType": "Human", "ObjectID": 542}]
    assert line["event_id"] == 10042
    assert line["locale_time"] == "2023-05-12 14:12:22"
    assert line["data"]["Class"] == "Normal"


def test_dahua_several_records_in_one_body_and_heartbeats():
    body = b"Code=VideoMotion;action=Start;index=0\r\nHeartbeat\r\nCode=AlarmLocal;action=Pulse;index=3\r\n" + CROSSLINE
    signals = dahua.parse(body, "text/plain", device="SN1")
    assert [(s.type, s.state, s.camera_ref) for s in signals] == [
        ("motion", "start", "SN1:1"),
        ("alarm_input", "active", "SN1:4"),
        ("line_crossing", "start", "SN1:2"),
    ]
    assert dahua.parse(b"Heartbeat\r\n", None) == []  # a keep-alive carries no event


def test_dahua_picture_parts_are_attachments_of_the_event_before():
    body = multipart(
        "myboundary",
        [
            (["Content-Type: text/plain"], CROSSLINE),
            (["Content-Type: image/jpeg"], JPEG),
        ],
    )
    [signal] = dahua.parse(body, DAHUA_STREAM, device="SN1")
    assert signal.fields["attachments"] == [
        {"name": None, "filename": None, "content_type": "image/jpeg", "size": len(JPEG)}
    ]


@pytest.mark.parametrize(
    ("code", "data", "expected", "plate"),
    [
        ("TrafficJunction", {"TrafficCar": {"PlateNumber": "鲁Q12345"}}, "plate", "鲁Q12345"),
        ("TrafficJunction", {"Object": {"ObjectType": "Plate", "Text": "鲁QA0001"}}, "plate", "鲁QA0001"),
        ("TrafficJunction", {}, "other:TrafficJunction", None),
        ("TrafficParking", {"PlateNumber": "鲁Q54321"}, "illegal_parking", "鲁Q54321"),
        ("CrossRegionDetection", {"Name": "区域1"}, "intrusion", None),
        ("VideoBlind", {}, "tamper", None),
        ("VideoLoss", {}, "video_loss", None),
        ("FaceDetection", {}, "face", None),
        ("SmokeDetection", {}, "fire", None),
        ("FireDetection", {}, "fire", None),
        ("NewFile", {}, "other:NewFile", None),
    ],
)
def test_dahua_codes(code, data, expected, plate):
    body = f"Code={code};action=Pulse;index=0;data={json.dumps(data, ensure_ascii=False)}".encode()
    [signal] = storable(dahua.parse(body, None, device="SN1"))
    assert (signal.type, signal.state, signal.fields.get("plate")) == (expected, "active", plate)


def test_dahua_locale_time_is_shanghai_time():
    body = b'Code=VideoMotion;action=Start;index=0;data={"LocaleTime": "2024-02-29 23:59:59"}'
    [signal] = dahua.parse(body, None)
    assert (signal.device_time, signal.time_flagged) == (utc(2024, 2, 29, 15, 59, 59), False)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "empty"),
        (b"Code=VideoMotion;action=Maybe;index=0", "bad_state"),
        (b"Code=VideoMotion;action=Start;index=first", "bad_channel"),
        (b"Code=VideoMotion;action=Start", "bad_channel"),
        (b"Code=;action=Start;index=0", "bad_record"),
        (b"Code=VideoMotion;action=Start;index=0;data={not json", "bad_json"),
        (b"Code=VideoMotion;action=Start;index=0;data=[1, 2]", "bad_record"),
        (b"Code=VideoMotion;action;index=0", "bad_record"),
        (b"hello world\r\nCode=VideoMotion;action=Start;index=0", "bad_record"),
        (b"Code=VideoMotion;action=Start;index=0\r\nand then some", "bad_record"),
        (b'Code=VideoMotion;action=Start;index=0;data={"UTC": NaN}', "bad_json"),
        (b"Code=VideoMotion\xff;action=Start;index=0", "bad_encoding"),
    ],
)
def test_dahua_refusals(body, code):
    with pytest.raises(ParseError) as err:
        dahua.parse(body, None, device="SN1")
    assert err.value.code == code


# ================================================================================================ gb28181


def test_gb28181_fixture_wvp_javadoc():
    body = needs_fixtures("gb28181", "alarm_notify_wvp_javadoc.xml").read_bytes()
    assert storable(gb28181.parse(body, "Application/MANSCDP+xml")) == [
        ParsedSignal(
            source="gb28181",
            # AlarmMethod 2 without AlarmType: a device alarm of a "134" alarm-input device.
            type="alarm_input",
            state="active",
            camera_ref="64010000001340000001",
            device_time=utc(2009, 12, 4, 8, 23, 32),  # 16:23:32 Asia/Shanghai
            time_flagged=False,
            external_id="64010000001340000001:1",
            fields={
                "vendor_type": "method=2;type=-",
                "device_id": "64010000001340000001",
                "device_type_code": "134",
                "sn": "1",
                "priority": 4,
                "method": 2,
                "method_name": "device",
                "description": "警情描述",
                "lat": 34.2,
                "lon": 171.3,
            },
        )
    ]


def gb_alarm(
    *,
    encoding: str | None = "GB2312",
    method: str = "5",
    info: str = "<Info><AlarmType>5</AlarmType></Info>",
    description: str = "临沂市兰山区人民广场东门越界报警",
    time: str = "2024-03-15T09:30:00",
    device_id: str = "37130200001320000123",
    cmd_type: str = "Alarm",
    position: str = "<Longitude>118.356</Longitude><Latitude>35.104</Latitude>",
    codec: str = "gb2312",
) -> bytes:
    declaration = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else '<?xml version="1.0"?>'
    return (
        f"{declaration}\r\n<Notify>\r\n<CmdType>{cmd_type}</CmdType>\r\n<SN>17430</SN>\r\n"
        f"<DeviceID>{device_id}</DeviceID>\r\n<AlarmPriority>1</AlarmPriority>\r\n<AlarmMethod>{method}</AlarmMethod>\r\n"
        f"<AlarmTime>{time}</AlarmTime>\r\n<AlarmDescription>{description}</AlarmDescription>\r\n{position}\r\n"
        f"{info}\r\n</Notify>\r\n"
    ).encode(codec)


def test_gb28181_gb2312_alarm_with_chinese_description():
    assert storable(gb28181.parse(gb_alarm(), "Application/MANSCDP+xml")) == [
        ParsedSignal(
            source="gb28181",
            type="line_crossing",  # method 5 (video), type 5 (tripwire)
            state="active",
            camera_ref="37130200001320000123",
            device_time=utc(2024, 3, 15, 1, 30),
            time_flagged=False,
            external_id="37130200001320000123:17430",
            fields={
                "vendor_type": "method=5;type=5",
                "device_id": "37130200001320000123",
                "device_type_code": "132",
                "sn": "17430",
                "priority": 1,
                "method": 5,
                "method_name": "video",
                "alarm_type": 5,
                "description": "临沂市兰山区人民广场东门越界报警",
                "lat": 35.104,
                "lon": 118.356,
            },
        )
    ]


def test_gb28181_gbk_characters_in_a_gb2312_body_are_read():
    body = gb_alarm(description="朱镕基路口", codec="gbk")  # 镕 is GBK, not GB2312
    [signal] = gb28181.parse(body, None)
    assert signal.fields["description"] == "朱镕基路口"


@pytest.mark.parametrize(("encoding", "codec"), [("UTF-8", "utf-8"), ("GB18030", "gb18030"), ("GBK", "gbk")])
def test_gb28181_other_declared_encodings(encoding, codec):
    [signal] = gb28181.parse(gb_alarm(encoding=encoding, codec=codec), None)
    assert signal.fields["description"] == "临沂市兰山区人民广场东门越界报警"


def test_gb28181_declaration_that_lies_is_a_clear_error():
    body = gb_alarm().replace("人民".encode("gb2312"), b"\xff\xfe")
    with pytest.raises(ParseError) as err:
        gb28181.parse(body, None)
    assert err.value.code == "bad_encoding"
    assert "GB2312" in str(err.value) and "offset" in str(err.value)
    with pytest.raises(ParseError) as err:  # says UTF-8, is GB2312
        gb28181.parse(gb_alarm(encoding="UTF-8", codec="gb2312"), None)
    assert err.value.code == "bad_encoding"
    with pytest.raises(ParseError) as err:  # says nothing, so UTF-8, is GB2312
        gb28181.parse(gb_alarm(encoding=None, codec="gb2312"), None)
    assert err.value.code == "bad_encoding"


@pytest.mark.parametrize(
    ("method", "info", "expected"),
    [
        ("5", "<Info><AlarmType>2</AlarmType></Info>", "motion"),
        (
            "5",
            "<Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>1</EventType></AlarmTypeParam></Info>",
            "intrusion",
        ),
        ("5", "<Info><AlarmType>7</AlarmType></Info>", "wrong_way"),
        ("5", "<Info><AlarmType>8</AlarmType></Info>", "loitering"),
        ("5", "<Info><AlarmType>10</AlarmType></Info>", "crowd"),
        ("5", "<Info><AlarmType>3</AlarmType></Info>", "other:left_object"),
        ("5", "<Info><AlarmType>99</AlarmType></Info>", "other:video_alarm_99"),
        ("5", "", "other:video_alarm"),
        ("2", "<Info><AlarmType>1</AlarmType></Info>", "video_loss"),
        ("2", "<Info><AlarmType>2</AlarmType></Info>", "tamper"),
        ("2", "<AlarmType>1</AlarmType>", "video_loss"),  # AlarmType outside Info (some devices)
        ("6", "<Info><AlarmType>1</AlarmType></Info>", "other:disk_fault"),
        ("1", "", "other:phone_alarm"),
        ("4", "", "other:gps_alarm"),
        ("", "", "other:gb28181_alarm"),
    ],
)
def test_gb28181_alarm_methods_and_types(method, info, expected):
    [signal] = storable(gb28181.parse(gb_alarm(method=method, info=info), None))
    assert signal.type == expected


def test_gb28181_event_type_is_kept():
    info = "<Info><AlarmType>6</AlarmType><AlarmTypeParam><EventType>2</EventType></AlarmTypeParam></Info>"
    [signal] = gb28181.parse(gb_alarm(info=info), None)
    assert (signal.fields["alarm_type"], signal.fields["event_type"]) == (6, 2)


@pytest.mark.parametrize(
    "position",
    ["<Longitude>0</Longitude><Latitude>0</Latitude>", "", "<Longitude>500</Longitude><Latitude>35</Latitude>"],
)
def test_gb28181_zero_missing_or_impossible_position_is_left_out(position):
    [signal] = gb28181.parse(gb_alarm(position=position), None)
    assert "lat" not in signal.fields and "lon" not in signal.fields


def test_gb28181_malformed_time_is_flagged():
    [signal] = gb28181.parse(gb_alarm(time="2024-03-15 半夜"), None)
    assert (signal.device_time, signal.time_flagged, signal.fields["time_text"]) == (None, True, "2024-03-15 半夜")


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (gb_alarm(cmd_type="Keepalive"), "not_alarm", "Keepalive"),
        (gb_alarm(cmd_type="Catalog"), "not_alarm", "Catalog"),
        (b"<Response><CmdType>Alarm</CmdType></Response>", "not_alarm", "Response"),
        (gb_alarm(device_id="3713020000132000012"), "bad_device_id", "20-digit"),
        (gb_alarm(device_id="3713020000132000012X"), "bad_device_id", "20-digit"),
        (gb_alarm(device_id="３７１３０２００００１３２００００１２３"), "bad_device_id", "20-digit"),  # fullwidth
        (gb_alarm(encoding="BIG5"), "bad_encoding", "unsupported"),
        (b"", "empty", "empty"),
    ],
)
def test_gb28181_refusals(body, code, words):
    with pytest.raises(ParseError) as err:
        gb28181.parse(body, None)
    assert err.value.code == code
    assert words in str(err.value)


# ================================================================================================ frigate


def test_frigate_fixture_docs_update_with_comments():
    body = needs_fixtures("frigate", "frigate_events_update_docs.jsonc").read_bytes()
    assert storable(frigate.parse(body, "application/json")) == [
        ParsedSignal(
            source="frigate",
            type="object",
            state="active",  # "update"
            camera_ref="front_door",
            device_time=datetime(2020, 12, 4, 23, 19, 15, 475377, tzinfo=UTC),  # start_time 1607123955.475377
            time_flagged=False,
            external_id="1607123955.475377-mxklsc",
            fields={
                "vendor_type": "person",
                "frigate_type": "update",
                "label": "person",
                "score": 0.87890625,
                "top_score": 0.958984375,
                "box": [432, 496, 544, 854],
                "region": [218, 440, 693, 915],
                "current_zones": ["yard", "driveway"],
                "entered_zones": ["yard", "driveway"],
                "has_snapshot": False,
                "has_clip": False,
                "stationary": False,
                "false_positive": False,
            },
        )
    ]


def frigate_message(kind: str, **after: object) -> bytes:
    base: dict[str, object] = {
        "id": "1718000000.123456-abcdef",
        "camera": "lanshan_road_007",
        "label": "car",
        "score": 0.8,
        "top_score": 0.9,
        "start_time": 1718000000.123456,
        "end_time": None,
        "box": [1, 2, 3, 4],
        "current_zones": [],
        "has_snapshot": True,
        "has_clip": True,
    }
    base.update(after)
    return json.dumps({"type": kind, "before": base, "after": base}).encode()


def test_frigate_new_is_start_and_end_is_stop_at_end_time():
    [new] = frigate.parse(frigate_message("new"), None)
    assert (new.state, new.device_time) == ("start", datetime(2024, 6, 10, 6, 13, 20, 123456, tzinfo=UTC))
    [end] = frigate.parse(frigate_message("end", end_time=1718000042), None)
    assert (end.state, end.device_time) == ("stop", utc(2024, 6, 10, 6, 14, 2))
    [end_without_time] = frigate.parse(frigate_message("end"), None)
    assert (end_without_time.device_time, end_without_time.time_flagged) == (None, True)


def test_frigate_recognized_plate_is_a_plate_read():
    [signal] = frigate.parse(
        frigate_message("update", recognized_license_plate="鲁Q12345", recognized_license_plate_score=0.93), None
    )
    assert (signal.type, signal.fields["plate"], signal.fields["plate_score"]) == ("plate", "鲁Q12345", 0.93)


def test_frigate_person_sub_label_is_not_kept_other_sub_labels_are():
    [person] = frigate.parse(frigate_message("update", label="person", sub_label=["Zhang San", 0.97]), None)
    assert "sub_label" not in person.fields
    [car] = frigate.parse(frigate_message("update", sub_label="SF Express // van"), None)
    assert car.fields["sub_label"] == "SF Express // van"


def test_frigate_comments_are_stripped_outside_strings_only():
    body = (
        b'{ /* a block\n comment */ "type": "new", // the kind\n'
        b' "after": {"camera": "gate//1", "id": "e1", "label": "dog", "sub_label": "http://x/y /* not */"}}'
    )
    [signal] = frigate.parse(body, None)
    assert signal.camera_ref == "gate//1"
    assert signal.fields["sub_label"] == "http://x/y /* not */"
    assert frigate.strip_comments('{"a": "x\\" // y"} // z') == '{"a": "x\\" // y"}  '


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[]", "bad_message"),
        (b'{"type": "delete", "after": {"camera": "c"}}', "bad_message"),
        (b'{"type": "new"}', "bad_message"),
        (b'{"type": "new", "after": {"label": "person"}}', "missing_field"),
        (b'{"type": "new", "after": {"camera": "c", "id": 7}}', "bad_ref"),
        (b'{"type": "new", "after": {"camera": "c"}', "bad_json"),
        (b'{"type": "new", /* never closed', "bad_json"),
        (b'{"type": "new", "after": {"camera": "c", "start_time": 1e999}}', "bad_json"),
        (b"\xff\xfe{}", "bad_encoding"),
    ],
)
def test_frigate_refusals(body, code):
    with pytest.raises(ParseError) as err:
        frigate.parse(body, None)
    assert err.value.code == code


# ================================================================================================ generic


def test_generic_full_body():
    body = json.dumps(
        {
            "camera": 1207,
            "type": "Illegal Parking",
            "time": "2024-05-01T08:00:00+08:00",
            "lat": 35.1041,
            "lon": 118.3564,
            "clip_url": "https://nvr.example/clips/1.mp4",
            "snapshot_url": "https://nvr.example/snap/1.jpg",
            "external_id": 99,
            "state": "start",
        }
    ).encode()
    assert storable(generic.parse(body, "application/json")) == [
        ParsedSignal(
            source="generic",
            type="illegal_parking",
            state="start",
            camera_ref="1207",
            device_time=utc(2024, 5, 1, 0, 0),
            time_flagged=False,
            external_id="99",
            fields={
                "vendor_type": "Illegal Parking",
                "lat": 35.1041,
                "lon": 118.3564,
                "clip_url": "https://nvr.example/clips/1.mp4",
                "snapshot_url": "https://nvr.example/snap/1.jpg",
            },
        )
    ]


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("line-crossing", "line_crossing"),
        ("  Video Loss ", "video_loss"),
        ("MOTION", "motion"),
        ("Smoke seen", "other:Smoke seen"),
        ("垃圾满溢", "other:垃圾满溢"),
    ],
)
def test_generic_type_normalization(type_, expected):
    [signal] = generic.parse(json.dumps({"camera": "demo-cam-0001", "type": type_}).encode(), None)
    assert (signal.type, signal.state, signal.camera_ref) == (expected, "active", "demo-cam-0001")
    assert (signal.device_time, signal.time_flagged) == (None, True)  # no time given


def test_generic_times():
    [local] = generic.parse(b'{"camera": 1, "type": "motion", "time": "2024-05-01 08:00:00"}', None)
    assert local.device_time == utc(2024, 5, 1, 0, 0)
    [bad] = generic.parse(b'{"camera": 1, "type": "motion", "time": "soon"}', None)
    assert (bad.device_time, bad.time_flagged, bad.fields["time_text"]) == (None, True, "soon")


def test_generic_unknown_keys_are_kept_under_extra():
    [signal] = generic.parse(b'{"camera": 1, "type": "motion", "operator": "li"}', None)
    assert signal.fields["extra"] == {"operator": "li"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"type": "motion"}', "missing_field"),
        (b'{"camera": "", "type": "motion"}', "missing_field"),
        (b'{"camera": true, "type": "motion"}', "missing_field"),
        (b'{"camera": 1}', "missing_field"),
        (b'{"camera": 1, "type": 3}', "missing_field"),
        (b'{"camera": 1, "type": "motion", "state": "ended"}', "bad_state"),
        (b'{"camera": 1, "type": "motion", "lat": "35.1"}', "bad_position"),
        (b'{"camera": 1, "type": "motion", "lat": 135.1}', "bad_position"),
        (b'{"camera": 1, "type": "motion", "time": 1718000000}', "bad_time"),
        (b'{"camera": 1, "type": "motion", "clip_url": 5}', "bad_url"),
        (b'{"camera": 1, "type": "motion", "external_id": [1]}', "bad_ref"),
        (b'{"camera": "' + b"x" * 200 + b'", "type": "motion"}', "bad_ref"),
        (b'{"camera": 1, "type": "motion", "note": "a\\u0000b"}', "unstorable"),
        (b'{"camera": 1, "type": "motion", "note": "\\ud800"}', "unstorable"),
        (b"[1]", "bad_message"),
        (b"camera=1", "bad_json"),
    ],
)
def test_generic_refusals(body, code):
    with pytest.raises(ParseError) as err:
        generic.parse(body, None)
    assert err.value.code == code


# ================================================================================================ common


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-12T14:12:22+08:00", utc(2023, 5, 12, 6, 12, 22)),
        ("2023-05-12T14:12:22.5Z", datetime(2023, 5, 12, 14, 12, 22, 500000, tzinfo=UTC)),
        ("2023-05-12 14:12:22", utc(2023, 5, 12, 6, 12, 22)),
        ("1985-07-01T12:00:00", utc(1985, 7, 1, 4, 0)),  # China observed DST in 1986-1991 only: +08:00 here
        ("1988-07-01T12:00:00", utc(1988, 7, 1, 3, 0)),  # ... and +09:00 in the summer of 1988
        ("0001-01-01T00:00:00+01:00", None),  # falls out of range once in UTC
        ("2023-05-12", None),
        (None, None),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_split_multipart_tolerates_lf_and_missing_blank_line():
    body = b"--b\nContent-Type: text/plain\nCode=A;action=Start;index=0\n--b\n\nsecond\n--b--\nepilogue"
    assert find_boundary(None, body) == "b"
    parts = split_multipart(body, "b")
    assert [(p.headers, p.body) for p in parts] == [
        ({"content-type": "text/plain"}, b"Code=A;action=Start;index=0"),
        ({}, b"second"),
    ]
