"""Frigate events from the local Mosquitto broker: recorded like the HTTP endpoint's, once each."""

from __future__ import annotations

import json
import socket
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from integrations.mqtt import FrigateSubscriber
from models.cases import DeadLetter, Signal
from models.db import Database
from models.org import Camera


def broker_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
        return True
    except OSError:
        return False


def count(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def test_frigate_messages_from_the_broker(demo: Database) -> None:
    if not broker_up():
        pytest.fail(
            "Mosquitto is not running on 127.0.0.1:1883 (start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf)"
        )
    topic = f"test/{uuid.uuid4().hex}/frigate/events"
    with demo.read() as s:
        camera = s.execute(select(Camera).where(Camera.vendor == "frigate").limit(1)).scalar_one()
    subscriber = FrigateSubscriber(demo, "mqtt://127.0.0.1:1883", topic, client_id=f"xl-test-{uuid.uuid4().hex[:8]}")
    subscriber.start()
    assert subscriber.ready.wait(10)
    after = {
        "id": "1732500000.123456-abc123",
        "camera": camera.external_id,
        "label": "person",
        "score": 0.9,
        "start_time": 1732500000.123456,
        "has_snapshot": True,
        "has_clip": True,
    }
    message = json.dumps({"type": "new", "before": after, "after": after})
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    for payload in (message, message, "{not json"):
        publisher.publish(topic, payload, qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 15
    while subscriber.received < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    publisher.loop_stop()
    subscriber.stop()
    assert subscriber.received == 3
    assert count(demo, Signal) == 1 and count(demo, DeadLetter) == 1
    with demo.read() as s:
        signal = s.execute(select(Signal)).scalar_one()
        assert (signal.source, signal.camera_id, signal.state) == ("frigate", camera.id, "start")
