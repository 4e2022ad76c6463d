"""Settings from the environment (and a `.env` file in the working directory).

Only the standard library is used so that every layer, the domain included, can read its configuration
the same way. Names and defaults are the ones promised in CONTRACT.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _read_dotenv(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


@dataclass(frozen=True)
class Settings:
    database_url: str
    media_dir: str
    sms_provider: str
    public_url: str
    city_prefix: str
    secret_key: str
    demo_token: str
    demo_open311_key: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_messaging_service_sid: str | None
    twilio_from_number: str | None
    twilio_base_url: str | None
    sms_rate: float
    mqtt_url: str | None

    @classmethod
    def load(cls, environ: dict[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Environment wins over `.env`; `.env` wins over the defaults."""
        base = cwd or Path.cwd()
        env = {**_read_dotenv(base / ".env"), **(os.environ if environ is None else environ)}
        return cls(
            database_url=env.get("XUELIANG_DATABASE_URL") or f"sqlite:///{base / 'var' / 'xueliang.sqlite3'}",
            media_dir=env.get("XUELIANG_MEDIA_DIR") or str(base / "var" / "media"),
            sms_provider=env.get("XUELIANG_SMS_PROVIDER") or "outbox",
            public_url=(env.get("XUELIANG_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            city_prefix=env.get("XUELIANG_CASE_PREFIX") or "LY",
            secret_key=env.get("XUELIANG_SECRET_KEY") or "",
            demo_token=env.get("XUELIANG_DEMO_TOKEN") or "demo-token",
            demo_open311_key=env.get("XUELIANG_DEMO_OPEN311_KEY") or "demo-open311-key",
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID") or None,
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN") or None,
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_from_number=env.get("TWILIO_FROM_NUMBER") or None,
            twilio_base_url=env.get("XUELIANG_TWILIO_BASE_URL") or None,
            sms_rate=float(env.get("XUELIANG_SMS_RATE") or 10),
            mqtt_url=env.get("XUELIANG_MQTT_URL") or None,
        )
