"""Evidence items and their chain of custody: one transaction writes the item, the hash-chained history entry and
the outbox row; the case keeps its state; the same file is one item; failures are recorded, and the case goes on."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models.audit import verify_chains
from models.cases import Case, Evidence, Outbox
from models.commands import get_case, get_user, patrol_case
from models.db import Database
from models.errors import NotFound, ValidationError
from models.evidence import add_evidence, case_evidence, fail_evidence, record_redaction, unredacted

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
SHA = hashlib.sha256(b"clip").hexdigest()


def new_case(db: Database) -> str:
    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        return patrol_case(
            s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="小广告", now=T0
        ).number


def add(db: Database, number: str, sha: str = SHA, kind: str = "clip", at: datetime = T0) -> int:
    with db.write() as s:
        return add_evidence(
            s,
            number,
            kind=kind,
            uri=f"file:///media/{sha}.mp4",
            redacted_uri=f"file:///media/r{sha[:8]}.mp4",
            sha256=sha,
            size=1234,
            source="https://nvr.example/clips/1.mp4",
            captured_at=at - timedelta(minutes=1),
            face_count=2,
            actor="system:evidence",
            now=at + timedelta(minutes=1),
        ).id


def test_adding_evidence_writes_the_item_and_its_custody_entry(demo: Database) -> None:
    number = new_case(demo)
    with demo.read() as s:
        before = get_case(s, number)
        state, tier, version = before.state, before.tier, before.version
    item_id = add(demo, number)
    with demo.read() as s:
        case = get_case(s, number)
        [item] = case.evidence
        assert (item.id, item.kind, item.sha256, item.size, item.status, item.face_count) == (
            item_id,
            "clip",
            SHA,
            1234,
            "ready",
            2,
        )
        assert item.created_by == "system:evidence" and item.captured_at == T0 - timedelta(minutes=1)
        assert (case.state, case.tier, case.version) == (state, tier, version + 1)  # only the version steps
        last = case.events[-1]
        assert last.action == "evidence" and last.actor == "system:evidence" and last.version == case.version
        assert last.data == {
            "evidence": item_id,
            "kind": "clip",
            "sha256": SHA,
            "size": 1234,
            "source": "https://nvr.example/clips/1.mp4",
            "redacted": True,
            "face_count": 2,
        }
        assert (last.from_state, last.to_state) == (state, state) and "sha256" in (last.note or "")
        outbox = s.execute(select(Outbox).order_by(Outbox.id.desc()).limit(1)).scalar_one()
        assert outbox.topic == "case.evidence" and outbox.payload["data"]["sha256"] == SHA
        assert verify_chains(s).ok


def test_the_same_file_twice_is_one_item(demo: Database) -> None:
    number = new_case(demo)
    first = add(demo, number)
    with demo.read() as s:
        events = len(get_case(s, number).events)
    assert add(demo, number, at=T0 + timedelta(hours=1)) == first
    other_kind = add(demo, number, kind="keyframe")  # the same bytes as another kind is another item
    with demo.read() as s:
        assert len(get_case(s, number).events) == events + 1
        assert [e.id for e in case_evidence(s, number)] == [first, other_kind]


def test_a_failure_is_recorded_once_and_the_case_goes_on(demo: Database) -> None:
    number = new_case(demo)
    for _ in range(2):
        with demo.write() as s:
            failed = fail_evidence(
                s,
                number,
                kind="clip",
                source="https://nvr.example/gone.mp4",
                error="gone.mp4: HTTP 404 Not Found",
                actor="system:evidence",
                now=T0 + timedelta(minutes=2),
            )
    with demo.read() as s:
        case = get_case(s, number)
        assert [(e.status, e.error) for e in case.evidence] == [("failed", "gone.mp4: HTTP 404 Not Found")]
        assert failed.sha256 is None and failed.uri is None
        assert [e.action for e in case.events].count("evidence_failed") == 1
        assert case.state == "reviewing" and "HTTP 404" in case.events[-1].note
    # and the case can still get evidence and move on
    add(demo, number)
    with demo.read() as s:
        assert verify_chains(s).ok


def test_a_pending_item_can_be_marked_failed(demo: Database) -> None:
    number = new_case(demo)
    with demo.write() as s:
        pending = add_evidence(
            s,
            number,
            kind="snapshot",
            uri=None,
            redacted_uri=None,
            sha256=None,
            size=None,
            source="rtsp://cam/1",
            captured_at=None,
            face_count=None,
            status="pending",
            actor="system:evidence",
            now=T0,
        )
    with demo.write() as s:
        item = fail_evidence(
            s, number, kind="snapshot", source="rtsp://cam/1", error="no frame", actor="x", evidence_id=pending.id
        )
        assert (item.id, item.status, item.error) == (pending.id, "failed", "no frame")
    with demo.write() as s, pytest.raises(NotFound):
        fail_evidence(s, number, kind="snapshot", source=None, error="e", actor="x", evidence_id=99999)


def test_redaction_of_an_item_that_came_without_one(demo: Database) -> None:
    number = new_case(demo)
    with demo.write() as s:
        photo = add_evidence(
            s,
            number,
            kind="after_photo",
            uri="file:///media/after.jpg",
            redacted_uri=None,
            sha256=SHA,
            size=10,
            source="sms",
            captured_at=T0,
            face_count=None,
            actor="sms:张三",
            now=T0,
        )
    with demo.read() as s:
        assert [e.id for e in unredacted(s, number)] == [photo.id]
    other = hashlib.sha256(b"blurred").hexdigest()
    for _ in range(2):
        with demo.write() as s:
            record_redaction(
                s, number, photo.id, redacted_uri="file:///media/b.jpg", redacted_sha256=other, face_count=1, actor="e"
            )
    with demo.read() as s:
        case = get_case(s, number)
        assert [e.action for e in case.events].count("evidence_redacted") == 1
        assert case.events[-1].data["redacted_sha256"] == other and unredacted(s, number) == []
        assert verify_chains(s).ok


@pytest.mark.parametrize(
    ("kind", "sha"),
    [("movie", SHA), ("clip", "ABC"), ("clip", SHA.upper())],
)
def test_bad_items_write_nothing(demo: Database, kind: str, sha: str) -> None:
    number = new_case(demo)
    with demo.read() as s:
        events = int(s.scalar(select(func.count()).select_from(Outbox)))
    with pytest.raises(ValidationError), demo.write() as s:
        add_evidence(
            s,
            number,
            kind=kind,
            uri=None,
            redacted_uri=None,
            sha256=sha,
            size=1,
            source=None,
            captured_at=None,
            face_count=None,
            actor="x",
            now=T0,
        )
    with demo.read() as s:
        assert int(s.scalar(select(func.count()).select_from(Outbox))) == events
        assert int(s.scalar(select(func.count()).select_from(Evidence))) == 0
    with pytest.raises(NotFound):
        add(demo, "LY-19990101-0001")


def test_evidence_shows_in_the_case_view(demo: Database) -> None:
    from models.views import case_view

    number = new_case(demo)
    add(demo, number)
    with demo.read() as s:
        view = case_view(s.execute(select(Case).where(Case.number == number)).scalar_one(), detail=True)
        [item] = view["evidence"]
        assert item["sha256"] == SHA and item["kind"] == "clip" and item["face_count"] == 2
        assert view["history"][-1]["action"] == "evidence"
