"""The HTTP gateway: credentials, limits, dead letters, idempotency, and alarms all the way to cases."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from flows.intake import drain
from integrations.gateway import create_app, replay_dead_letter, store_dead_letter
from models.cases import Case, DeadLetter, Signal
from models.db import Database
from models.org import Camera
from models.settings import Settings
from tests.conftest import needs_fixtures

BEARER = {"Authorization": "Bearer demo-token"}


@pytest.fixture
def client(demo: Database) -> Iterator[TestClient]:
    app = create_app(Settings.load(environ={}), demo, max_body=64 * 1024)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def counts(db: Database) -> tuple[int, int]:
    with db.read() as s:
        return (
            int(s.scalar(select(func.count()).select_from(Signal))),
            int(s.scalar(select(func.count()).select_from(DeadLetter))),
        )


def hik_alert(serial: str, channel: int, when: str = "2026-11-25T10:00:00+08:00", kind: str = "fielddetection") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<ipAddress>10.0.0.8</ipAddress><channelID>{channel}</channelID><dateTime>{when}</dateTime>
<activePostCount>1</activePostCount><eventType>{kind}</eventType><eventState>active</eventState>
<eventDescription>field detection</eventDescription>
<Extensions><serialNumber>{serial}</serialNumber></Extensions></EventNotificationAlert>"""


def seeded(db: Database, vendor: str) -> Camera:
    with db.read() as s:
        return s.execute(select(Camera).where(Camera.vendor == vendor).order_by(Camera.id)).scalars().first()


def test_health(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    "headers,query",
    [
        ({}, ""),
        ({"Authorization": "Bearer wrong"}, ""),
        ({}, "?token=wrong"),
        ({"Authorization": "Basic " + base64.b64encode(b"demo:nope").decode()}, ""),
    ],
)
def test_without_credentials_nothing_is_stored(client: TestClient, demo: Database, headers: dict, query: str) -> None:
    answer = client.post(f"/ingest/generic{query}", json={"camera": 1, "type": "motion"}, headers=headers)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
    assert counts(demo) == (0, 0)


def test_every_credential_form_and_duplicates(client: TestClient, demo: Database) -> None:
    cam = seeded(demo, "hikvision")
    serial, channel = cam.external_id.rsplit(":", 1)
    body = hik_alert(serial, int(channel))
    basic = {"Authorization": "Basic " + base64.b64encode(b"demo:demo-token").decode()}
    first = client.post("/ingest/hikvision", content=body, headers={**BEARER, "Content-Type": "application/xml"})
    assert first.status_code == 202
    [signal] = first.json()["signals"]
    assert signal["duplicate"] is False
    for headers, query in ((basic, ""), ({}, "?token=demo-token")):
        again = client.post(f"/ingest/hikvision{query}", content=body, headers={**headers, "Content-Type": "text/xml"})
        assert again.status_code == 202 and again.json()["signals"] == [{"id": signal["id"], "duplicate": True}]
    assert counts(demo) == (1, 0)
    with demo.read() as s:
        row = s.get(Signal, signal["id"])
        assert row.camera_id == cam.id and row.raw == body.encode() and row.type == "intrusion"


@pytest.mark.parametrize(
    "vendor,folder,names,content_type",
    [
        (
            "hikvision",
            "hikvision",
            ["vmd.xml", "fielddetection_human.xml", "ipc_1_fielddetection.xml", "pir.xml"],
            "application/xml",
        ),
        (
            "dahua",
            "dahua",
            [
                "cameraevents_alarm_local_start.txt",
                "cameraevents_video_motion_start.txt",
                "cameraevents_video_motion_stop.txt",
            ],
            "text/plain",
        ),
        ("gb28181", "gb28181", ["alarm_notify_wvp_javadoc.xml"], "application/MANSCDP+xml"),
        ("frigate", "frigate", ["frigate_events_update_docs.jsonc"], "application/json"),
    ],
)
def test_vendor_samples_are_accepted_and_unknown_cameras_flagged(
    client: TestClient, demo: Database, vendor: str, folder: str, names: list[str], content_type: str
) -> None:
    for name in names:
        body = needs_fixtures(folder, name).read_bytes()
        answer = client.post(f"/ingest/{vendor}", content=body, headers={**BEARER, "Content-Type": content_type})
        assert answer.status_code == 202, answer.text
        for item in answer.json()["signals"]:
            with demo.read() as s:
                row = s.get(Signal, item["id"])
                assert row.source == vendor and row.raw == body
                assert row.fields.get("unknown_camera") is True  # the samples' devices are not in the demo
    drain(demo, "LY")
    with demo.read() as s:
        statuses = {(r.status, r.suppressed_by) for r in s.execute(select(Signal)).scalars()}
    assert statuses == {("suppressed", "unknown_camera")}


def test_dahua_device_from_the_url_names_the_camera(client: TestClient, demo: Database) -> None:
    cam = seeded(demo, "dahua")
    serial, channel = cam.external_id.rsplit(":", 1)
    body = f"Code=CrossRegionDetection;action=Start;index={int(channel) - 1}".encode()
    answer = client.post(
        f"/ingest/dahua?device={serial}", content=body, headers={**BEARER, "Content-Type": "text/plain"}
    )
    assert answer.status_code == 202
    with demo.read() as s:
        assert s.get(Signal, answer.json()["signals"][0]["id"]).camera_id == cam.id


def test_alarm_to_case_and_signal_list(client: TestClient, demo: Database) -> None:
    cam = seeded(demo, "gb28181")
    body = f"""<?xml version="1.0" encoding="GB2312"?>
<Notify><CmdType>Alarm</CmdType><SN>17</SN><DeviceID>{cam.gb_device_id}</DeviceID><AlarmPriority>1</AlarmPriority>
<AlarmMethod>5</AlarmMethod><AlarmTime>2026-11-25T10:00:00</AlarmTime><AlarmDescription>区域入侵</AlarmDescription>
<Info><AlarmType>6</AlarmType></Info></Notify>""".encode("gb2312")
    answer = client.post("/ingest/gb28181", content=body, headers={**BEARER, "Content-Type": "application/xml"})
    assert answer.status_code == 202
    report = drain(demo, "LY")
    assert len(report.cases) == 1
    with demo.read() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.camera_id == cam.id and case.category.code == "E0601"
        assert s.get(Signal, answer.json()["signals"][0]["id"]).case_id == case.id


def test_garbage_is_400_and_kept_then_replayable(client: TestClient, demo: Database) -> None:
    answer = client.post("/ingest/hikvision", content=b"<not-xml", headers={**BEARER, "Content-Type": "text/xml"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    with demo.read() as s:
        dead = s.execute(select(DeadLetter)).scalar_one()
        assert dead.raw == b"<not-xml" and dead.endpoint == "/ingest/hikvision" and dead.source_id is not None
    with pytest.raises(Exception, match=r"still|xml|XML"):
        replay_dead_letter(demo, dead.id)
    cam = seeded(demo, "hikvision")
    serial, channel = cam.external_id.rsplit(":", 1)
    fixed = store_dead_letter(
        demo,
        "/ingest/hikvision",
        "application/xml",
        hik_alert(serial, int(channel)).encode(),
        "parser bug",
        dead.source_id,
    )
    [recorded] = replay_dead_letter(demo, fixed)
    assert recorded["duplicate"] is False
    with demo.read() as s:
        assert s.get(DeadLetter, fixed).replay_result.startswith("recorded")


def test_wrong_media_type_and_oversize(client: TestClient, demo: Database) -> None:
    answer = client.post("/ingest/generic", content=b"camera=1", headers={**BEARER, "Content-Type": "text/csv"})
    assert answer.status_code == 415
    big = client.post(
        "/ingest/generic", content=b"x" * (65 * 1024), headers={**BEARER, "Content-Type": "application/json"}
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "too_large"
    assert counts(demo) == (0, 2)


@pytest.mark.parametrize("vendor", ["hikvision", "dahua", "gb28181", "frigate", "generic"])
def test_mutated_bodies_never_make_a_5xx(demo: Database, vendor: str) -> None:
    seeds = {
        "hikvision": hik_alert("DS-X", 1).encode(),
        "dahua": b'Code=VideoMotion;action=Start;index=0;data={"Name":"a"}',
        "gb28181": b'<?xml version="1.0" encoding="GB2312"?><Notify><CmdType>Alarm</CmdType><SN>1</SN>'
        b"<DeviceID>34020000001320000001</DeviceID><AlarmMethod>5</AlarmMethod></Notify>",
        "frigate": json.dumps(
            {"type": "new", "after": {"id": "1", "camera": "c", "label": "person", "start_time": 1.5}}
        ).encode(),
        "generic": json.dumps({"camera": 1, "type": "motion", "time": "2026-11-25T10:00:00+08:00"}).encode(),
    }
    app = create_app(Settings.load(environ={}), demo, max_body=64 * 1024)
    client = TestClient(app, raise_server_exceptions=False)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(cut=st.integers(0, 400), junk=st.binary(max_size=40), at=st.integers(0, 400))
    def check(cut: int, junk: bytes, at: int) -> None:
        base = seeds[vendor][: max(cut, 1)]
        body = base[:at] + junk + base[at:]
        answer = client.post(
            f"/ingest/{vendor}",
            content=body,
            headers={
                **BEARER,
                "Content-Type": "application/json"
                if vendor in ("frigate", "generic")
                else "text/plain"
                if vendor == "dahua"
                else "application/xml",
            },
        )
        assert answer.status_code in (202, 400), (answer.status_code, answer.text, body)

    check()


def test_simulated_alarms_of_every_vendor_become_cases(client: TestClient, demo: Database) -> None:
    from integrations.simulate import load_cameras, make_alarms

    cameras = load_cameras(demo)
    alarms = make_alarms(cameras, 60, seed=7)
    assert {a.vendor for a in alarms} >= {"hikvision", "dahua", "gb28181", "frigate"}
    for alarm in alarms:
        answer = client.post(alarm.path, content=alarm.body, headers={**BEARER, "Content-Type": alarm.content_type})
        assert answer.status_code == 202, (alarm.vendor, answer.text)
    report = drain(demo, "LY")
    assert report.processed == 60
    assert not report.suppressed, report.suppressed
    assert len(report.cases) + report.attached >= 50, report.suppressed
