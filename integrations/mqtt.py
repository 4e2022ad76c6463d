"""Frigate over MQTT: the worker subscribes to `frigate/events` when XUELIANG_MQTT_URL is set, and records each
message exactly as the HTTP endpoint would (same parser, same idempotency, same dead letters).

The subscription is a persistent session (fixed client id, clean_start False) at QoS 1, so the broker keeps what
arrives while the worker is down; a message is acknowledged to the broker only after its signal is committed.
"""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from integrations.cameras import ParseError, frigate
from integrations.gateway import record_parsed, store_dead_letter
from models.db import Database, utcnow
from models.intake import CameraIndex

log = logging.getLogger(__name__)


class FrigateSubscriber:
    def __init__(
        self, db: Database, url: str, topic: str = "frigate/events", client_id: str = "xueliang-worker"
    ) -> None:
        self.db = db
        self.topic = topic
        self.cameras = CameraIndex()
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 1883
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        if parsed.username:
            self.client.username_pw_set(parsed.username, parsed.password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.received = 0
        self.ready = threading.Event()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(self.topic, qos=1)
        self.ready.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        body = bytes(message.payload)
        try:
            signals = frigate.parse(body, "application/json")
            record_parsed(self.db, [("frigate", signals, body, "application/json", None, utcnow())], self.cameras)
        except ParseError as exc:
            store_dead_letter(self.db, f"mqtt:{message.topic}", "application/json", body, str(exc))
        except Exception:  # the database is unavailable: leave the message unacknowledged, the broker resends
            log.exception("frigate message not recorded; the broker will deliver it again")
            return
        self.received += 1
        client.ack(message.mid, message.qos)

    def start(self) -> None:
        properties = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 24 * 3600
        self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=properties)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
