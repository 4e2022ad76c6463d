"""`xueliang bench sms`: notices through the fake Twilio server with the real twilio client, at a rate limit.

A temporary SQLite database is migrated and seeded with the demo; `cases` patrol cases are dispatched across the
demo's township governments, and `notices` dispatch notices are made for them (several per case and contact, so
identical texts to one number are in flight together, the hard case for reconciliation). They are sent the way
the dispatch flow sends them (integrations.sms.send_pending, `concurrency` threads sharing one token bucket) to
integrations/twilio_fake.py, which injects faults: every 50th POST answers 429, every 101st 500, and every 199th
is accepted and then dropped without an answer. Reported: the wall time and notices per second over it, the
busiest one-second window of POSTs let go by the rate limiter (and as the server saw them: the fake shares the
process, so arrivals jitter and can bunch a little past the limit the client keeps), and the duplicates:
messages the server accepted beyond one per notice (must be 0), with SIDs shared by two notices and accepted
messages no notice holds as cross-checks.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from integrations.evidence_page import evidence_link
from integrations.secrets import PhoneVault
from integrations.sms import TwilioProvider, send_pending
from integrations.twilio_fake import FakeTwilio
from models.cases import Notice
from models.commands import ActParams, act, get_case, get_user, patrol_case
from models.db import Database, utcnow
from models.notices import create_notices
from models.org import ResponsibleUnit
from models.settings import Settings
from xueliang.benchkit import machine_info, scratch_database

FAULTS = (("429", 50), ("500", 101), ("drop", 199))


def _prepare(url: str, cases: int, notices: int, settings: Settings) -> None:
    """Dispatch `cases` demo cases to the township governments and queue `notices` notices among them."""
    db = Database(url)
    try:
        with db.read() as session:
            units = list(
                session.execute(
                    select(ResponsibleUnit.code)
                    .where(ResponsibleUnit.kind == "government")
                    .order_by(ResponsibleUnit.code)
                ).scalars()
            )
        start = utcnow() - timedelta(hours=1)
        numbers = []
        for i in range(cases):
            with db.write() as session:
                place = get_user(session, "reviewer_village").admin_unit
                assert place is not None
                number = patrol_case(
                    session,
                    username="inspector",
                    category_code="E0201",
                    lat=place.lat,
                    lon=place.lon,
                    description=f"压测案卷 {i + 1}：人行道乱堆杂物",
                    now=start,
                ).number
            with db.write() as session:
                act(session, number, "dispatch", "reviewer_city", ActParams(unit=units[i % len(units)]), now=start)
            numbers.append(number)
        with db.write() as session:
            loaded = [get_case(session, n) for n in numbers]
            for i in range(notices):
                case = loaded[i % len(loaded)]
                link = evidence_link(settings, case.number)
                create_notices(session, case, "dispatch", f"bench:{i}", link, "twilio")
    finally:
        db.dispose()


def _busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def run(
    settings: Settings,
    *,
    notices: int = 1000,
    rate: float = 100.0,
    concurrency: int = 8,
    cases: int = 50,
    faults: bool = True,
) -> dict[str, Any]:
    vault = PhoneVault(secrets.token_urlsafe(32))  # a throwaway key: the demo's numbers are sealed with it
    with scratch_database("sqlite", sealer=vault) as url:
        setup_started = time.perf_counter()
        _prepare(url, cases, notices, settings)
        setup_s = time.perf_counter() - setup_started
        db = Database(url)
        try:
            with FakeTwilio(slow_seconds=3.0) as fake:
                if faults:
                    for kind, every in FAULTS:
                        fake.fail_every(kind, every)
                provider = TwilioProvider(
                    fake.account_sid,
                    fake.auth_token,
                    public_url=settings.public_url,
                    from_number="+15005550006",
                    base_url=fake.url,
                    rate=rate,
                    timeout=2.0,
                    backoff_base=0.05,
                    backoff_cap=0.5,
                )
                slots: list[float] = []  # when each request was let go by the shared bucket
                acquire = provider.bucket.acquire

                def timed_acquire() -> float:
                    waited = acquire()
                    slots.append(time.monotonic())
                    return waited

                provider.bucket.acquire = timed_acquire  # type: ignore[method-assign]
                began = utcnow()
                started = time.perf_counter()
                while send_pending(db, provider, vault, limit=250, concurrency=concurrency, before=began):
                    pass
                seconds = time.perf_counter() - started
                requests = fake.requests
                accepted = {m.sid for m in fake.messages}
        finally:
            with db.read() as session:
                rows = session.execute(select(Notice.idempotency_key, Notice.provider_sid, Notice.status)).all()
            db.dispose()
    keys = {key for key, sid, _ in rows if sid}
    sids = [sid for _, sid, _ in rows if sid]
    created = [r.at for r in requests if r.creates_message and (r.status == 201 or r.fault in ("drop", "timeout"))]
    statuses: dict[str, int] = {}
    for _, _, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "machine": machine_info(),
        "inputs": {
            "notices": notices,
            "cases": cases,
            "rate_limit_per_s": rate,
            "concurrency": concurrency,
            "database": "sqlite (temporary, demo seeded)",
            "server": "integrations/twilio_fake.py over HTTP on 127.0.0.1, real twilio-python client",
            "faults": {f"1 in {every} POSTs": kind for kind, every in FAULTS} if faults else {},
        },
        "results": {
            "notices": len(keys),
            "seconds": round(seconds, 2),
            "duplicates": len(accepted) - len(keys),
            "rate_per_s": round(len(keys) / seconds, 1) if seconds else None,
            # the busiest one-second window of requests let go by the rate limiter, and of POSTs as the server
            # received them (the fake shares the process, so arrivals jitter by some milliseconds)
            "busiest_second": _busiest_second(slots),
            "server_busiest_second": _busiest_second(created),
            "sids_shared": len(sids) - len(set(sids)),
            "accepted_not_recorded": len(accepted - set(sids)),
            "posts": sum(1 for r in requests if r.creates_message),
            "lookups": sum(1 for r in requests if r.method == "GET"),
            "notice_statuses": statuses,
            "setup_seconds": round(setup_s, 2),
        },
    }
