"""Signals into cases: idempotent recording, suppression, correlation, duplicates, routing, crash safety."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models.cases import Case, Signal
from models.db import Database
from models.intake import process_batch, record_signal
from models.org import Camera
from models.taxonomy import Category, SuppressionRule

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def camera(db: Database, vendor: str = "hikvision") -> Camera:
    with db.read() as s:
        return s.execute(select(Camera).where(Camera.vendor == vendor).order_by(Camera.id)).scalars().first()


def alarm(db: Database, cam: Camera, type_: str = "intrusion", state: str = "start", at: datetime = T0, **fields):
    with db.write() as s:
        return record_signal(
            s,
            source=cam.vendor,
            type_=type_,
            state=state,
            camera_ref=cam.external_id if cam.vendor != "gb28181" else cam.gb_device_id,
            device_time=at,
            time_flagged=False,
            external_id=None,
            fields=fields,
            raw=b"<raw/>",
            content_type="application/xml",
            received_at=at,
            source_id=cam.source_id,
        )


def process(db: Database, at: datetime = T0) -> object:
    with db.write() as s:
        return process_batch(s, now=at)


def signal(db: Database, signal_id: int) -> Signal:
    with db.read() as s:
        return s.get(Signal, signal_id)


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_same_alarm_twice_is_one_signal(demo: Database) -> None:
    cam = camera(demo)
    first, again = alarm(demo, cam), alarm(demo, cam)
    assert (first.duplicate, again.duplicate, again.id) == (False, True, first.id)
    other = alarm(demo, cam, at=T0 + timedelta(seconds=1))
    assert not other.duplicate and other.id != first.id
    assert signal(demo, first.id).raw == b"<raw/>"


def test_alarm_becomes_a_routed_case_and_repeats_attach(demo: Database) -> None:
    cam = camera(demo)
    a = alarm(demo, cam, region="A")
    report = process(demo)
    assert len(report.cases) == 1
    with demo.read() as s:
        case = s.execute(select(Case).where(Case.number == report.cases[0])).scalar_one()
        assert (case.source, case.state, case.camera_id) == ("camera", "reviewing", cam.id)
        assert case.category.code == "E0601" and case.unit_id == cam.unit_id
        # public-security alarms start at the township's centre (the demo's routing rule for E0601)
        assert case.tier == case.routing_rule.start_tier == "township"
        assert case.review_due is not None
    repeat = alarm(demo, cam, at=T0 + timedelta(minutes=5))
    stop = alarm(demo, cam, state="stop", at=T0 + timedelta(minutes=6))
    report = process(demo, T0 + timedelta(minutes=6))
    assert report.cases == [] and report.attached == 2
    assert signal(demo, repeat.id).case_id == signal(demo, a.id).case_id == signal(demo, stop.id).case_id
    later = alarm(demo, cam, at=T0 + timedelta(hours=2))
    report = process(demo, T0 + timedelta(hours=2))
    assert len(report.cases) == 1 and signal(demo, later.id).status == "cased"


def test_unknown_camera_is_kept_and_flagged(demo: Database) -> None:
    with demo.write() as s:
        rec = record_signal(
            s,
            source="hikvision",
            type_="motion",
            state="start",
            camera_ref="NOSUCHSERIAL:1",
            device_time=None,
            time_flagged=True,
            external_id=None,
            fields={},
            raw=b"x",
            content_type=None,
            received_at=T0,
        )
    process(demo)
    kept = signal(demo, rec.id)
    assert kept.fields["unknown_camera"] is True and kept.time_flagged and kept.time == T0
    assert (kept.status, kept.suppressed_by) == ("suppressed", "unknown_camera")


def test_maintenance_and_snooze_rules_suppress_until_they_expire(demo: Database) -> None:
    cam = camera(demo, "dahua")
    other = camera(demo, "gb28181")
    with demo.write() as s:
        s.get(Camera, cam.id).maintenance_until = T0 + timedelta(hours=1)
        category = s.execute(select(Category).where(Category.code == "E0605")).scalar_one()
        s.add(
            SuppressionRule(
                reason="雨天误报",
                category_id=category.id,
                starts_at=T0 - timedelta(hours=1),
                until=T0 + timedelta(hours=1),
                created_by="admin",
            )
        )
    held = alarm(demo, cam)
    snoozed = alarm(demo, other, type_="motion")
    process(demo)
    assert signal(demo, held.id).suppressed_by.startswith("maintenance:")
    assert signal(demo, snoozed.id).suppressed_by.startswith("rule:")
    after = alarm(demo, other, type_="motion", at=T0 + timedelta(hours=2))
    report = process(demo, T0 + timedelta(hours=2))
    assert signal(demo, after.id).status == "cased" and len(report.cases) == 1


def test_informational_and_unmapped_types_make_no_case(demo: Database) -> None:
    cam = camera(demo)
    plate = alarm(demo, cam, type_="plate", plate="鲁Q12345")
    odd = alarm(demo, cam, type_="other:heatmap")
    report = process(demo)
    assert report.cases == []
    assert signal(demo, plate.id).suppressed_by == "informational:plate"
    assert signal(demo, odd.id).suppressed_by == "unmapped_type:other:heatmap"


def citizen(db: Database, lat: float, lon: float, key: str, category: str = "E0201") -> int:
    with db.write() as s:
        return record_signal(
            s,
            source="open311",
            type_="citizen_report",
            state="active",
            camera_ref=None,
            device_time=T0,
            time_flagged=False,
            external_id=None,
            key=key,
            raw=b"sealed",
            content_type="sealed;json",
            fields={"category": category, "lat": lat, "lon": lon, "description": "小广告"},
            received_at=T0,
        ).id


def test_citizen_reports_nearby_are_linked_with_a_reporter_count(demo: Database) -> None:
    cam = camera(demo)
    first = citizen(demo, cam.lat, cam.lon, "k1")
    near = citizen(demo, cam.lat + 0.0002, cam.lon, "k2")  # about 22 m north
    far = citizen(demo, cam.lat + 0.01, cam.lon, "k3")  # about 1.1 km
    other_kind = citizen(demo, cam.lat, cam.lon, "k4", category="E0101")
    report = process(demo)
    assert len(report.cases) == 3 and report.linked == 1
    assert signal(demo, near).case_id == signal(demo, first).case_id
    assert signal(demo, far).case_id != signal(demo, first).case_id
    assert signal(demo, other_kind).case_id != signal(demo, first).case_id
    with demo.read() as s:
        case = s.get(Case, signal(demo, first).case_id)
        assert case.source == "citizen" and case.reporter_count == 2 and case.tier == "village"
        assert [e.action for e in case.events] == ["create", "link_report"]


def test_a_crash_mid_batch_writes_nothing_and_the_retry_creates_each_case_once(demo: Database) -> None:
    cams = []
    with demo.read() as s:
        cams = s.execute(select(Camera).order_by(Camera.id).limit(5)).scalars().all()
    for cam in cams:
        alarm(demo, cam, type_="motion")
    with pytest.raises(RuntimeError), demo.write() as s:
        report = process_batch(s, now=T0)
        assert len(report.cases) == 5
        raise RuntimeError("killed between processing and commit")
    assert count(demo, Case) == 0
    assert process(demo).processed == 5
    assert process(demo).processed == 0
    assert count(demo, Case) == 5


def test_alarms_without_time_or_id_are_told_apart_by_arrival(demo: Database) -> None:
    cam = camera(demo, "dahua")

    def untimed(received: datetime) -> object:
        with demo.write() as s:
            return record_signal(
                s,
                source="dahua",
                type_="motion",
                state="start",
                camera_ref=cam.external_id,
                device_time=None,
                time_flagged=True,
                external_id=None,
                fields={"channel": 1},
                raw=b"Code=VideoMotion;action=Start",
                content_type="text/plain",
                received_at=received,
            )

    first = untimed(T0 + timedelta(seconds=59.5))
    retry = untimed(T0 + timedelta(seconds=60.5))  # the next minute: recognised through the previous key
    later = untimed(T0 + timedelta(minutes=5))
    assert (retry.duplicate, retry.id) == (True, first.id)
    assert not later.duplicate
