"""Property tests: whatever bytes arrive, a camera parser returns well-formed signals or raises ParseError.

Inputs: arbitrary bytes, structured noise in each protocol's own vocabulary, and mutations of the real
fixtures (truncation at every offset, byte flips, inserted junk, deletions, duplications), plus the classic
hostile documents (entity expansion, external entities, deep nesting, huge numbers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.cameras import ParsedSignal, ParseError, dahua, frigate, gb28181, generic, hikvision
from integrations.cameras.common import KNOWN_TYPES, STATES
from tests.conftest import needs_fixtures

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Parser = Callable[[bytes, str | None], list[ParsedSignal]]
PARSERS: dict[str, Parser] = {
    "hikvision": hikvision.parse,
    "dahua": lambda body, ctype: dahua.parse(body, ctype, device="7J0A1B2PAZ300000"),
    "gb28181": gb28181.parse,
    "frigate": frigate.parse,
    "generic": generic.parse,
}
FIXTURES = [
    ("hikvision", "vmd.xml"),
    ("hikvision", "fielddetection_human.xml"),
    ("hikvision", "ipc_1_fielddetection.xml"),
    ("hikvision", "pir.xml"),
    ("dahua", "cameraevents_alarm_local_start.txt"),
    ("dahua", "cameraevents_video_motion_start.txt"),
    ("dahua", "cameraevents_video_motion_stop.txt"),
    ("gb28181", "alarm_notify_wvp_javadoc.xml"),
    ("frigate", "frigate_events_update_docs.jsonc"),
]
CONTENT_TYPES = [
    None,
    "application/xml",
    "application/json",
    "text/plain",
    "Application/MANSCDP+xml; charset=GB2312",
    "multipart/mixed; boundary=boundary",
    "multipart/form-data; boundary=MIME_boundary",
    "multipart/x-mixed-replace; boundary=myboundary",
    "multipart/mixed",
]
JUNK = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&lol;",
    b"]]>",
    b"<![CDATA[",
    b"<!--",
    b'<!DOCTYPE x [<!ENTITY lol "lol">]>',
    b'<!DOCTYPE x SYSTEM "file:///etc/passwd">',
    b"<?xml version='1.0' encoding='GB2312'?>",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    "鲁".encode("gbk"),
    "鲁".encode(),
    b"\r\n",
    b"\n",
    b"\r\n--myboundary\r\n",
    b"\r\n--boundary\r\nContent-Type: image/jpeg\r\n\r\n\xff\xd8\xff",
    b"--",
    b"Code=",
    b";action=Start",
    b";index=",
    b";data={",
    b"}",
    b"{",
    b"[",
    b'"',
    b"\\",
    b"//",
    b"/*",
    b"*/",
    b"9" * 30,
    b"9" * 5000,
    b"1e999",
    b"-1e999",
    b"NaN",
    b"Infinity",
    b"-0",
    b"null",
    b"true",
    b"\\ud800",
    b"\\u0000",
    b"+08:00",
    b"T25:61:61",
    b"9999-12-31T23:59:59-14:00",
    b"0001-01-01T00:00:00+14:00",
]


def check(parse: Parser, body: bytes, content_type: str | None) -> None:
    """The contract of every parser: signals that keep the ParsedSignal promises, or ParseError."""
    try:
        signals = parse(body, content_type)
    except ParseError as exc:
        assert isinstance(exc.code, str) and exc.code
        assert str(exc)
        return
    assert isinstance(signals, list)
    for signal in signals:
        assert isinstance(signal, ParsedSignal)
        assert signal.state in STATES
        assert signal.type in KNOWN_TYPES or signal.type.startswith("other:")
        assert len(signal.type) <= 48
        if signal.device_time is None:
            assert signal.time_flagged
        else:
            assert signal.device_time.utcoffset() == timedelta(0)
        for ref in (signal.camera_ref, signal.external_id):
            assert ref is None or (isinstance(ref, str) and 0 < len(ref) <= 120)
        dumped = json.dumps(signal.fields, allow_nan=False, ensure_ascii=False)
        dumped.encode("utf-8")
        assert "\\u0000" not in dumped


@st.composite
def mutations(draw: st.DrawFn, body: bytes) -> bytes:
    """The body after 1-4 random edits."""
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(body)))
        op = draw(st.sampled_from(["truncate", "flip", "insert", "insert_random", "delete", "duplicate"]))
        if op == "truncate":
            body = body[:pos]
        elif op == "flip" and pos < len(body):
            body = body[:pos] + bytes([body[pos] ^ draw(st.integers(1, 255))]) + body[pos + 1 :]
        elif op == "insert":
            body = body[:pos] + draw(st.sampled_from(JUNK)) + body[pos:]
        elif op == "insert_random":
            body = body[:pos] + draw(st.binary(max_size=16)) + body[pos:]
        elif op == "delete":
            body = body[:pos] + body[pos + draw(st.integers(1, 32)) :]
        elif op == "duplicate":
            end = min(len(body), pos + draw(st.integers(1, 200)))
            body = body[:pos] + body[pos:end] * draw(st.integers(2, 5)) + body[end:]
    return body


# ------------------------------------------------------------------------------------------------ anything


@pytest.mark.parametrize("name", list(PARSERS))
def test_arbitrary_bytes(name):
    parse = PARSERS[name]

    @FUZZ
    @given(body=st.binary(max_size=512), content_type=st.sampled_from(CONTENT_TYPES))
    def run(body: bytes, content_type: str | None) -> None:
        check(parse, body, content_type)

    run()


@pytest.mark.parametrize("name", list(PARSERS))
def test_junk_in_the_protocols_vocabulary(name):
    parse = PARSERS[name]

    @FUZZ
    @given(pieces=st.lists(st.sampled_from(JUNK), max_size=30), content_type=st.sampled_from(CONTENT_TYPES))
    def run(pieces: list[bytes], content_type: str | None) -> None:
        check(parse, b"".join(pieces), content_type)

    run()


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.mark.parametrize("parts", FIXTURES, ids=["/".join(p) for p in FIXTURES])
def test_fixture_truncated_at_every_offset(parts):
    body = needs_fixtures(*parts).read_bytes()
    parse = PARSERS[parts[0]]
    for end in range(len(body) + 1):
        check(parse, body[:end], None)
        check(parse, body[end:], None)


@pytest.mark.parametrize("parts", FIXTURES, ids=["/".join(p) for p in FIXTURES])
def test_fixture_mutations(parts):
    body = needs_fixtures(*parts).read_bytes()
    parse = PARSERS[parts[0]]

    natural = {"hikvision": "application/xml", "dahua": "text/plain", "gb28181": "Application/MANSCDP+xml"}
    content_types = st.one_of(
        st.none(), st.just(natural.get(parts[0], "application/json")), st.sampled_from(CONTENT_TYPES)
    )

    @FEW
    @given(mutated=mutations(body), content_type=content_types)
    def run(mutated: bytes, content_type: str | None) -> None:
        check(parse, mutated, content_type)

    run()


# ------------------------------------------------------------------------------------------------ structure

HIK_TAGS = [
    "eventType",
    "eventState",
    "dateTime",
    "channelID",
    "dynChannelID",
    "macAddress",
    "serialNumber",
    "activePostCount",
    "licensePlate",
    "relationEvent",
    "detectionTarget",
    "positionX",
    "positionY",
    "inputIOPortID",
]
# XML-safe text most of the time (control characters and surrogates only now and then).
safe_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)
xml_text = st.one_of(
    st.sampled_from(["VMD", "ANPR", "duration", "active", "inactive", "1", "0", "-1", "1e999", "2023-05-12T14:12:22"]),
    st.sampled_from(["2", "0.5", "DS-2CD2T47G2-L20240315AACH720000000", "44:19:b6:00:00:01", "鲁Q12345"]),
    safe_text,
    safe_text,
    safe_text,
    safe_text,
    st.text(max_size=40),
)


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@FUZZ
@given(
    event_type=st.sampled_from(["VMD", "linedetection", "ANPR", "duration", "IO", "videoloss"]) | safe_text,
    state=st.one_of(st.sampled_from(["active", "inactive"]), st.just("active"), safe_text),
    values=st.lists(st.tuples(st.sampled_from(HIK_TAGS), xml_text), max_size=12),
    nested=st.booleans(),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
)
def test_hikvision_structured(event_type, state, values, nested, encoding):
    inner = "".join(f"<{tag}>{xml_escape(text)}</{tag}>" for tag, text in values)
    if nested:
        inner = f"<DetectionRegionList><DetectionRegionEntry><RegionCoordinatesList><RegionCoordinates>{inner}"
        inner += "</RegionCoordinates></RegionCoordinatesList></DetectionRegionEntry></DetectionRegionList>"
    head = f"<eventType>{xml_escape(event_type)}</eventType><eventState>{xml_escape(state)}</eventState>"
    doc = f'<?xml version="1.0" encoding="{encoding}"?><EventNotificationAlert>{head}{inner}</EventNotificationAlert>'
    try:
        body = doc.encode(encoding)
    except UnicodeEncodeError:  # surrogates drawn by st.text
        return
    check(hikvision.parse, body, "application/xml")


GB_TAGS = ["CmdType", "SN", "DeviceID", "AlarmPriority", "AlarmMethod", "AlarmTime", "AlarmDescription"]
GB_TAGS += ["Longitude", "Latitude", "AlarmType", "EventType"]


@FUZZ
@given(
    values=st.lists(st.tuples(st.sampled_from(GB_TAGS), xml_text), max_size=12),
    declared=st.sampled_from(["GB2312", "GBK", "GB18030", "UTF-8", "utf8", "ISO-8859-1", "BIG5", None]),
    written=st.sampled_from(["gb18030", "utf-8", "latin-1"]),
)
def test_gb28181_structured(values, declared, written):
    base = "<CmdType>Alarm</CmdType><DeviceID>37130200001320000123</DeviceID><AlarmMethod>5</AlarmMethod>"
    inner = base + "".join(f"<{tag}>{xml_escape(text)}</{tag}>" for tag, text in values)
    prolog = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    try:
        body = f"{prolog}<Notify>{inner}</Notify>".encode(written)
    except UnicodeEncodeError:
        return
    check(gb28181.parse, body, None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
epoch = st.floats(min_value=0, max_value=4e9) | st.integers(-(10**20), 10**20)
number = st.floats(allow_nan=False, allow_infinity=False) | st.integers(0, 5000)
names = st.lists(st.sampled_from(["yard", "driveway", "路口"]), max_size=3)
# Each key: a well-typed value three times out of four, anything JSON the fourth.
FRIGATE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.sampled_from(["1607123955.475377-mxklsc", "e1"]) | st.text(max_size=130),
    "label": st.sampled_from(["person", "car", "dog"]),
    "sub_label": st.none() | st.text(max_size=20) | st.tuples(st.text(max_size=10), st.floats(0, 1)).map(list),
    "score": number,
    "top_score": number,
    "box": st.lists(number, min_size=4, max_size=4),
    "region": st.lists(number, min_size=4, max_size=4),
    "start_time": epoch,
    "end_time": st.none() | epoch,
    "current_zones": names,
    "entered_zones": names,
    "has_snapshot": st.booleans(),
    "recognized_license_plate": st.none() | st.sampled_from(["鲁Q12345", ""]),
}


@st.composite
def frigate_after(draw: st.DrawFn) -> dict[str, Any]:
    after: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(FRIGATE_VALUES)), unique=True, max_size=len(FRIGATE_VALUES))):
        after[key] = draw(st.one_of(FRIGATE_VALUES[key], FRIGATE_VALUES[key], FRIGATE_VALUES[key], json_values))
    return after


@FUZZ
@given(
    kind=st.one_of(st.sampled_from(["new", "update", "end"]), st.sampled_from(["new", "end"]), json_values),
    after=frigate_after(),
    camera=st.one_of(st.sampled_from(["front_door", "lanshan_road_007"]), st.text(max_size=130), json_values),
)
def test_frigate_structured(kind, after, camera):
    message: dict[str, Any] = {"type": kind, "after": {"camera": camera, **after}}
    check(frigate.parse, json.dumps(message).encode(), "application/json")


GENERIC_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "time": st.sampled_from(["2024-05-01T08:00:00+08:00", "2024-05-01 08:00:00", "soon"]) | st.text(max_size=30),
    "state": st.sampled_from(["start", "stop", "active", "Stop "]),
    "lat": st.floats(-90, 90) | st.integers(-90, 90),
    "lon": st.floats(-180, 180),
    "clip_url": st.just("https://nvr.example/1.mp4"),
    "snapshot_url": st.text(max_size=30),
    "external_id": st.integers() | st.text(max_size=130),
    "x": json_values,
}


@st.composite
def generic_message(draw: st.DrawFn) -> dict[str, Any]:
    camera = st.one_of(st.integers(0, 9999), st.just("demo-cam-0001"), st.text(min_size=1, max_size=130), json_values)
    type_ = st.one_of(st.sampled_from(["motion", "Line Crossing", "smoke"]), st.text(min_size=1, max_size=60))
    message: dict[str, Any] = {"camera": draw(camera), "type": draw(st.one_of(type_, type_, json_values))}
    for key in draw(st.lists(st.sampled_from(sorted(GENERIC_VALUES)), unique=True)):
        message[key] = draw(st.one_of(GENERIC_VALUES[key], GENERIC_VALUES[key], GENERIC_VALUES[key], json_values))
    for key in draw(st.sampled_from([(), (), (), ("camera",), ("type",)])):
        del message[key]  # now and then a required key is missing
    return message


@FUZZ
@given(message=generic_message())
def test_generic_structured(message):
    check(generic.parse, json.dumps(message).encode(), None)


DAHUA_CODES = ["VideoMotion", "TrafficJunction", "TrafficParking", "CrossLineDetection", "AlarmLocal", "NewFile"]
good_record = st.tuples(
    st.sampled_from(DAHUA_CODES),
    st.sampled_from(["Start", "Stop", "Pulse"]),
    st.sampled_from(["0", "1", "15", "99999"]),
    st.one_of(st.none(), st.just({"UTC": 1683871942, "Name": "r1", "PlateNumber": "鲁Q12345"}), json_values),
)
any_record = st.tuples(
    st.one_of(st.sampled_from(DAHUA_CODES), st.text()),
    st.one_of(st.sampled_from(["Start", "start", "Stop", ""]), st.text()),
    st.one_of(st.sampled_from(["0", "-1", "", "1e3"]), st.text(max_size=6)),
    st.none() | json_values,
)


@FUZZ
@given(records=st.lists(st.one_of(good_record, good_record, any_record), max_size=4), stream=st.booleans())
def test_dahua_structured(records, stream):
    lines = []
    for code, action, index, data in records:
        line = f"Code={code};action={action};index={index}"
        if data is not None:
            line += ";data=" + json.dumps(data, indent=2)
        lines.append(line)
    if stream:
        body = "".join(f"--myboundary\r\nContent-Type: text/plain\r\n\r\n{line}\r\n" for line in lines)
    else:
        body = "\r\n".join(lines)
    try:
        encoded = body.encode()
    except UnicodeEncodeError:
        return
    check(PARSERS["dahua"], encoded, "multipart/x-mixed-replace; boundary=myboundary" if stream else None)


# ------------------------------------------------------------------------------------------------ hostile

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode() for i in range(1, 10)
    )
    + b"]>\n"
)
EXTERNAL = b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'


@pytest.mark.parametrize("prolog", [BILLION_LAUGHS, EXTERNAL], ids=["billion_laughs", "external_entity"])
@pytest.mark.parametrize(
    ("parse", "root"),
    [
        (hikvision.parse, b"<EventNotificationAlert><eventType>&lol9;</eventType></EventNotificationAlert>"),
        (gb28181.parse, b"<Notify><CmdType>Alarm</CmdType><AlarmDescription>&lol9;</AlarmDescription></Notify>"),
    ],
    ids=["hikvision", "gb28181"],
)
def test_entity_declarations_are_forbidden(parse, root, prolog):
    with pytest.raises(ParseError) as err:
        parse(prolog + root.replace(b"&lol9;", b"&xxe;" if prolog is EXTERNAL else b"&lol9;"), None)
    assert err.value.code == "forbidden_xml"


@pytest.mark.parametrize("name", list(PARSERS))
@pytest.mark.parametrize(
    "body",
    [
        b"<a>" * 50_000 + b"</a>" * 50_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"Code=VideoMotion;action=Start;index=0;data=" + b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"<EventNotificationAlert>"
        + b"<x>" * 20_000
        + b"</x>" * 20_000
        + b"<eventType>VMD</eventType></EventNotificationAlert>",
        b'{"type": "new", "after": {"camera": "c", "start_time": ' + b"9" * 5000 + b"}}",
        b'{"camera": 1, "type": "motion", "lat": ' + b"9" * 400 + b"}",
        b'{"type": "new", "after": {"camera": "c", "box": [1e308, 1e308, 1e308, 1e308]}}',
        b"/*" * 50_000,
        b"--myboundary\r\n" * 20_000,
    ],
    ids=[
        "deep_xml",
        "deep_json_list",
        "deep_json_object",
        "deep_dahua_data",
        "deep_hik",
        "huge_int",
        "huge_lat",
        "huge_floats",
        "open_comments",
        "many_boundaries",
    ],
)
def test_hostile_bodies(name, body):
    check(PARSERS[name], body, None)
