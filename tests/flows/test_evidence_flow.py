"""The evidence flow end to end: a camera alarm naming a clip URL (served from a local HTTP server) becomes a case,
and the case ends with keyframes, a contact sheet, a redacted H.264 clip, a face count, hashes of everything, and
one custody entry per item in its hash-chained history. Failures are recorded and the case goes on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from flows.evidence import evidence
from flows.intake import drain
from integrations.evidence_pipeline import parse_at, process_case_evidence, public_source
from integrations.faces import get_detector
from integrations.gateway import create_app
from integrations.storage import Storage
from integrations.video import Video, stream_info
from models.audit import verify_chains
from models.commands import get_case
from models.db import Database
from models.settings import Settings
from tests.conftest import needs_fixtures
from tests.evidence_media import face_patch, serve_directory, textured_background, write_video

BEARER = {"Authorization": "Bearer demo-token"}


def alarm_clip(path: Path) -> Path:
    """6 s at 25 fps: a person (a fixture face) stands still, walks right from 2 s to 4 s, stands still again."""
    patch = face_patch(needs_fixtures("faces", "img12.jpg"), 120)
    scene = textured_background(640, 360, seed=21)

    def frames() -> Iterator[np.ndarray]:
        for i in range(150):
            t = i / 25
            x = 60 + int(min(max(t - 2.0, 0.0), 2.0) * 25 * 4)
            frame = scene.copy()
            frame[120:240, x : x + 120] = patch
            yield frame

    return write_video(path, frames(), gop=25)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "nvr"
    root.mkdir()
    alarm_clip(root / "alarm.mp4")
    shutil.copy(needs_fixtures("faces", "img25.jpg"), root / "snap.jpg")
    with serve_directory(root) as base:
        yield base


def camera_case(db: Database, body: dict[str, object]) -> str:
    """A case made the way a camera makes one: an alarm posted to the gateway, then intake."""
    app = create_app(Settings.load(environ={}), db)
    with TestClient(app) as client:
        answer = client.post("/ingest/generic", json={"camera": 1, "type": "intrusion", **body}, headers=BEARER)
        assert answer.status_code == 202, answer.text
    report = drain(db, "LY")
    assert len(report.cases) == 1, report
    return report.cases[0]


def settings_for(tmp_path: Path) -> Settings:
    return Settings.load(environ={"XUELIANG_MEDIA_DIR": str(tmp_path / "media")}, cwd=tmp_path)


def test_a_camera_case_gets_its_evidence(demo: Database, served: str, tmp_path: Path) -> None:
    number = camera_case(demo, {"clip_url": f"{served}/alarm.mp4?token=s3cret", "snapshot_url": f"{served}/snap.jpg"})
    settings = settings_for(tmp_path)
    report = process_case_evidence(demo, settings, number)
    assert report.failed == [] and report.face_count == 1
    assert report.at_s == pytest.approx(2.0, abs=0.25)  # found by motion analysis: the person starts walking
    kinds = [item["kind"] for item in report.items]
    assert kinds.count("keyframe") == 7  # -3 s .. 12 s every second, inside the 6 s clip: 0 (or 0.04) .. 5, and 5.96
    assert {"contact_sheet", "clip", "snapshot"} <= set(kinds)

    store = Storage.from_settings(settings)
    detector = get_detector()
    with demo.read() as s:
        case = get_case(s, number)
        assert case.state == "reviewing" and case.source == "camera"
        items = list(case.evidence)
        custody = [e for e in case.events if e.action == "evidence"]
        assert len(items) == len(report.items) == len(custody)
        for item, entry in zip(items, custody, strict=True):
            assert item.status == "ready" and item.created_by == "system:evidence"
            assert store.verify(item.uri, item.sha256) and item.size == len(store.read(item.uri))
            assert item.redacted_uri is not None and store.exists(item.redacted_uri)
            assert entry.data["evidence"] == item.id and entry.data["sha256"] == item.sha256
            assert entry.data["redacted"] is True
            assert "s3cret" not in (item.source or "")
            assert item.captured_at is not None
        assert verify_chains(s).ok
        by_kind = {item.kind: item for item in items}
        keyframes = [item for item in items if item.kind == "keyframe"]
        clip, snapshot = by_kind["clip"], by_kind["snapshot"]
    assert all(k.face_count == 1 for k in keyframes) and clip.face_count == 1 and snapshot.face_count == 1
    # the original clip is kept as it came; the public copy is H.264 that browsers play, without the face
    assert store.read(clip.uri) == (tmp_path / "nvr" / "alarm.mp4").read_bytes()
    public = store.get(clip.redacted_uri, tmp_path / "public.mp4")
    info = stream_info(public)
    assert (info["codec"], info["pix_fmt"], info["faststart"]) == ("h264", "yuv420p", True)
    with Video(public) as video:
        count = 0
        while video.grab():
            if count % 10 == 0:
                frame = video.retrieve()
                assert frame is not None and detector.detect(frame) == []
            count += 1
    assert count == 150  # the whole 6 s clip lies inside the -5 s .. +10 s window
    for item in (keyframes[3], snapshot):
        blurred = cv2.imdecode(np.frombuffer(store.read(item.redacted_uri), np.uint8), cv2.IMREAD_COLOR)
        original = cv2.imdecode(np.frombuffer(store.read(item.uri), np.uint8), cv2.IMREAD_COLOR)
        assert len(detector.detect(original)) == 1 and detector.detect(blurred) == []

    # running again (a retried flow, a second trigger) adds nothing
    again = process_case_evidence(demo, settings, number)
    assert again.failed == [] and again.items == []  # the recorded sources are not even fetched again
    with demo.read() as s:
        case = get_case(s, number)
        assert len(case.evidence) == len(items) and len([e for e in case.events if e.action == "evidence"]) == len(
            custody
        )


def test_unreachable_and_broken_sources_are_recorded_and_the_case_goes_on(
    demo: Database, served: str, tmp_path: Path
) -> None:
    (tmp_path / "nvr" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a picture")
    number = camera_case(demo, {"clip_url": f"{served}/gone.mp4", "snapshot_url": f"{served}/broken.jpg"})
    report = process_case_evidence(demo, settings_for(tmp_path), number)
    assert report.items == [] and report.face_count is None
    assert {(f["kind"], "HTTP 404" in f["error"] or "not a readable image" in f["error"]) for f in report.failed} == {
        ("clip", True),
        ("snapshot", True),
    }
    with demo.read() as s:
        case = get_case(s, number)
        assert case.state == "reviewing"
        assert sorted((e.kind, e.status) for e in case.evidence) == [("clip", "failed"), ("snapshot", "failed")]
        assert [e.action for e in case.events].count("evidence_failed") == 2
        assert verify_chains(s).ok


def test_an_after_photo_without_a_blurred_copy_gets_one(demo: Database, tmp_path: Path) -> None:
    from models.evidence import add_evidence

    number = camera_case(demo, {})
    settings = settings_for(tmp_path)
    stored = Storage.from_settings(settings).put(needs_fixtures("faces", "img46.jpg"))
    with demo.write() as s:
        add_evidence(
            s,
            number,
            kind="after_photo",
            uri=stored.uri,
            redacted_uri=None,
            sha256=stored.sha256,
            size=stored.size,
            source="sms",
            captured_at=None,
            face_count=None,
            actor="sms:contact",
        )
    report = process_case_evidence(demo, settings, number)
    assert report.failed == [] and report.face_count == 1
    with demo.read() as s:
        case = get_case(s, number)
        [after] = case.evidence
        assert after.redacted_uri is not None and after.face_count == 1
        assert case.events[-1].action == "evidence_redacted"


def test_the_prefect_flow_function(
    demo: Database, demo_url: str, served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = camera_case(demo, {"snapshot_url": f"{served}/snap.jpg"})
    monkeypatch.setenv("XUELIANG_MEDIA_DIR", str(tmp_path / "media"))
    result = evidence.fn(f"xueliang.case.{number}", database_url=demo_url)  # as an event trigger calls it
    assert result["number"] == number and result["face_count"] == 1
    assert [item["kind"] for item in result["items"]] == ["snapshot"]


def test_moment_and_source_parsing() -> None:
    assert parse_at(None) is None and parse_at("") is None
    assert parse_at("12.5") == 12.5 and parse_at("12.5s") == 12.5 and parse_at("00:01:02.5") == 62.5
    assert parse_at(3) == 3.0
    with pytest.raises(ValueError, match="seconds"):
        parse_at("soon")
    with pytest.raises(ValueError):
        parse_at("-1")
    assert public_source("rtsp://admin:pw@10.0.0.8/ch1?sig=abc&id=7") == "rtsp://10.0.0.8/ch1?sig=%2A%2A%2A&id=7"


def test_an_alarm_cannot_make_the_server_read_its_own_files(demo: Database, tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"
    shutil.copy(needs_fixtures("faces", "img5.jpg"), secret)
    number = camera_case(demo, {"clip_url": f"file://{secret}", "snapshot_url": str(secret)})
    report = process_case_evidence(demo, settings_for(tmp_path), number)
    assert report.items == [] and len(report.failed) == 2
    assert all("local files are not taken from alarms" in f["error"] for f in report.failed)
    # an operator may point the flow at a local export
    assert process_case_evidence(demo, settings_for(tmp_path), number, snapshot_url=str(secret)).face_count == 1
