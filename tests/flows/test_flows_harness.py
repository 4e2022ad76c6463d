"""The flows under Prefect's test harness (a temporary Prefect API): each is a thin recipe over models/ and
integrations/, and leaves its decisions in the database, not in Prefect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.cases import Notice, Signal
from models.commands import ActParams, act, get_user, patrol_case
from models.db import Database
from models.intake import record_signal
from models.org import Camera


@pytest.fixture(scope="module")
def harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.slow
def test_intake_relay_dispatch_and_sweep_flows(harness: None, demo_url: str) -> None:
    from flows.dispatch import dispatch
    from flows.intake import intake
    from flows.relay import outbox_relay
    from flows.sla import sla_sweep

    db = Database(demo_url)
    now = datetime.now(UTC)
    with db.write() as s:
        cam = s.execute(select(Camera).where(Camera.vendor == "hikvision").limit(1)).scalar_one()
        record_signal(
            s,
            source="hikvision",
            type_="intrusion",
            state="start",
            camera_ref=cam.external_id,
            device_time=now,
            time_flagged=False,
            external_id=None,
            fields={},
            raw=b"<x/>",
            content_type="application/xml",
            source_id=cam.source_id,
        )
    result = intake(database_url=demo_url)
    assert result["processed"] == 1 and len(result["cases"]) == 1
    with db.read() as s:
        assert s.execute(select(Signal.status)).scalar_one() == "cased"

    with db.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        number = patrol_case(
            s, username="inspector", category_code="E0201", lat=place.lat, lon=place.lon, description="小广告"
        ).number
    with db.write() as s:
        act(s, number, "dispatch", "reviewer_city", ActParams())
    relayed = outbox_relay(database_url=demo_url)
    assert relayed["notices"] == 1 and relayed["failed"] == 0
    sent = dispatch(number=f"xueliang.case.{number}", database_url=demo_url)
    assert len(sent) == 1
    with db.read() as s:
        assert s.get(Notice, sent[0]).status == "stored"

    swept = sla_sweep(now=now + timedelta(days=30), database_url=demo_url)
    assert number in swept["flagged_ack"] + swept["flagged_rectify"]
    assert sla_sweep(now=now + timedelta(days=30), database_url=demo_url)["flagged_ack"] == []
    db.dispose()
