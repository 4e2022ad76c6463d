"""Sending SMS notices. Providers: `outbox` (the embedded default: the message stays in the database, for the
console's SMS page and the log; nothing leaves the machine) and `twilio` (twilio-python's REST client).

No double sends. A notice row and its idempotency key exist before any provider call (models.notices). A sender
claims notices (pending -> sending, committed) before calling the provider, so two senders never send the same
notice; what the provider answered is recorded in a second transaction. A crash between the two leaves the notice
`sending`. Such a notice is *reconciled* once its lease (SENDING_LEASE) has run out: the provider is asked
whether it already has the message (`find`), and only when it has not is the notice sent again. The same lookup
runs inside one send after an answer that leaves it open whether Twilio accepted the message (a timeout, a
dropped connection, a 5xx).

How a message is found at Twilio (TwilioProvider.find). The Message resource does not echo the StatusCallback
or any field of ours, so the lookup uses what the list filters offer: `To` (exact), and the body compared by its
letters and digits (so that a Messaging Service's smart encoding of quotes and dashes does not hide it). Two
reads: the newest messages to the number, back to the notice's creation (catches messages still queued, which
have no DateSent yet), then, if none matched, messages to the number with `DateSent>=` the day before the notice
was created (catches older, sent ones when a sender was down for long). Only messages created after the notice
(less a clock-skew margin) count, and a message another notice holds is never taken: not one whose SID is
recorded on another notice, nor one this process sent for another notice, and a lookup waits until this
process's creates of the same text to the same number have been answered. So two notices with the same text to
the same number are matched one to one. (Across processes, two such notices sent in the same instant remain
ambiguous; notices of one case to one contact are made minutes apart in practice.) The StatusCallback also
carries `?notice=<id>`, so a delivery report arriving before the reconciliation records the SID as well
(integrations/sms_webhooks.py). Twilio's list may lag behind a create by a moment; the lookup after an unclear
answer runs after a backoff, and a notice found nowhere is sent again, which is the only case left where a
double send is possible.

Throughput. 429 and 5xx are retried with exponential backoff and jitter, a bounded number of times; what is
still failing goes back to `pending` for the next run. A token bucket shared by every TwilioProvider of the
process (per account) keeps to XUELIANG_SMS_RATE messages per second. Several worker processes each have their
own bucket: give each a share of the account's rate (XUELIANG_SMS_RATE = account rate / workers), or put the
dispatch deployment under a Prefect global concurrency limit with slot decay (`prefect gcl create sms
--limit N --slot-decay-per-second RATE`) so the processes share one budget.

Phone numbers are opened from their seal only for the provider call; logs and notice errors carry notice ids and
masked numbers only.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import or_, select

from integrations.secrets import PhoneVault
from models.cases import Case, Notice
from models.db import Database, utcnow
from models.errors import ValidationError
from models.notices import FAILED, advance_status, create_backup_notices
from models.org import UnitContact
from models.privacy import mask_phone, normalize_phone
from models.settings import Settings

log = logging.getLogger("xueliang.sms")

SENDING_LEASE = timedelta(minutes=10)  # longer than any one send with all its retries
MAX_RUNS = 5  # dispatch runs a notice may take part in before a transient failure becomes `failed`
DEFAULT_RATE = 10.0  # messages per second (XUELIANG_SMS_RATE)
CLOCK_SKEW = timedelta(minutes=5)  # between our clock and Twilio's, when matching messages to a notice
INVALID_NUMBER_CODES = frozenset({21211, 21217, 21614})  # Twilio: invalid 'To', not a valid / not a mobile number
AUTH_CODES = frozenset({20003, 20005})  # Twilio: authentication failed, account suspended

Taken = Callable[[Sequence[str]], set[str]]


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str


class SmsError(Exception):
    """A send that did not happen. `message` is safe to store and show: it never holds a phone number."""

    status = "failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidNumber(SmsError):
    status = "invalid_number"


class Rejected(SmsError):
    """The provider refused the message for good (unsubscribed number, region not enabled, …)."""


class Transient(SmsError):
    """Still failing after the retries (429, 5xx, network): the notice goes back to `pending`."""

    status = "pending"


class ProviderUnavailable(SmsError):
    """Configuration or account trouble (credentials, sender): nothing can be sent; the run stops loudly."""

    status = "pending"


class SmsProvider(Protocol):
    name: str

    def send(
        self,
        notice_id: int,
        to: str,
        body: str,
        idempotency_key: str,
        *,
        since: datetime | None = None,
        taken: Taken | None = None,
    ) -> SendResult: ...

    def find(
        self, notice_id: int, to: str, body: str, since: datetime, taken: Taken | None = None
    ) -> SendResult | None: ...


class OutboxProvider:
    """Keeps the message: its status becomes `stored`; the console and `xueliang` list it."""

    name = "outbox"

    def send(
        self,
        notice_id: int,
        to: str,
        body: str,
        idempotency_key: str,
        *,
        since: datetime | None = None,
        taken: Taken | None = None,
    ) -> SendResult:
        return SendResult(sid=f"OUTBOX{notice_id:010d}", status="stored")

    def find(
        self, notice_id: int, to: str, body: str, since: datetime, taken: Taken | None = None
    ) -> SendResult | None:
        return None  # storing again is harmless: the SID is the notice's own


# ---------------------------------------------------------------------------------------------- rate limit


class TokenBucket:
    """At most `rate` acquisitions per second, bursts up to `burst`. Each caller reserves its slot under the lock
    and sleeps outside it, so threads are served in arrival order without holding the lock while waiting."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the SMS rate must be positive (XUELIANG_SMS_RATE)")
        self.rate = float(rate)
        self.capacity = float(max(1, burst))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until one message may go; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


_BUCKETS: dict[tuple[str, float, int], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def shared_bucket(key: str, rate: float, burst: int = 1) -> TokenBucket:
    """The process's one bucket for this account and rate, whoever asks for it."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get((key, rate, burst))
        if bucket is None:
            bucket = _BUCKETS[(key, rate, burst)] = TokenBucket(rate, burst)
        return bucket


# ------------------------------------------------------------------------------------------------- Twilio


def rebase_url(url: str, base_url: str | None) -> str:
    """https://api.twilio.com/2010-04-01/... -> <base_url>/2010-04-01/... (any *.twilio.com host, so regional and
    edge hosts, next-page links and media URLs follow too); other URLs and an unset base are left alone."""
    if not base_url:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != "twilio.com" and not host.endswith(".twilio.com"):
        return url
    base = urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


def _twilio_http_client(base_url: str | None, timeout: float, pool_size: int) -> Any:
    """twilio-python's own HTTP client, with every request sent to `base_url` when one is set (the client has
    no base-URL option of its own: `edge`/`region` only choose among Twilio's hosts), and quiet logs (the stock
    client logs query strings, and a reconciliation query names the phone number)."""
    from requests.adapters import HTTPAdapter
    from twilio.http.http_client import TwilioHttpClient

    class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(timeout=timeout, logger=log)
            self.base_url = base_url.rstrip("/") if base_url else None
            if self.session is not None:
                for prefix in ("https://", "http://"):
                    self.session.mount(prefix, HTTPAdapter(pool_maxsize=pool_size))

        def request(
            self,
            method: str,
            url: str,
            params: dict[str, object] | None = None,
            data: dict[str, object] | None = None,
            headers: dict[str, str] | None = None,
            auth: tuple[str, str] | None = None,
            timeout: float | None = None,
            allow_redirects: bool = False,
        ) -> Any:
            return super().request(
                method,
                rebase_url(url, self.base_url),
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )

        def log_request(self, kwargs: dict[str, Any]) -> None:
            log.debug("twilio %s %s", kwargs["method"], urlsplit(kwargs["url"]).path)

        def log_response(self, status_code: int, response: Any) -> None:
            log.debug("twilio answered %s", status_code)

    return RebasedHttpClient()


# Twilio MessageStatus -> notice status (Twilio's own "sending" is not our claim state `sending`).
TWILIO_STATUS: dict[str, str] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "partially_delivered": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
}


def twilio_status(value: str | None) -> str | None:
    return TWILIO_STATUS.get((value or "").lower())


_PHONE_LIKE = re.compile(r"\+?\d[\d \-]{5,}\d")


def scrub(text: str) -> str:
    """Mask anything that looks like a phone number (Twilio's error messages quote the 'To' number)."""

    def _mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return mask_phone("+" + digits) if len(digits) >= 7 else match.group(0)

    return _PHONE_LIKE.sub(_mask, text)


def _letters(text: str | None) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if ch.isalnum()).casefold()


class TwilioProvider:
    """Sends through Twilio's Messages API with the official client. One client per thread (requests sessions
    are not promised to be thread-safe); one rate bucket per account for the whole process."""

    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        public_url: str,
        messaging_service_sid: str | None = None,
        from_number: str | None = None,
        base_url: str | None = None,
        rate: float = DEFAULT_RATE,
        burst: int = 1,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        scan: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not (messaging_service_sid or from_number):
            raise ProviderUnavailable("Twilio 需要 TWILIO_MESSAGING_SERVICE_SID 或 TWILIO_FROM_NUMBER")
        self.account_sid, self.auth_token = account_sid, auth_token
        self.messaging_service_sid = messaging_service_sid
        try:
            self.from_number = None if messaging_service_sid else normalize_phone(from_number or "")
        except ValidationError as exc:
            raise ProviderUnavailable("TWILIO_FROM_NUMBER 不是 E.164 号码（如 +14155552345）") from exc
        self.public_url = public_url.rstrip("/")
        self.base_url = base_url
        self.timeout, self.max_attempts = timeout, max(1, max_attempts)
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.scan = scan  # messages to one number read at most per lookup pass
        self.bucket = shared_bucket(account_sid, rate, burst)
        self._sleep = sleep
        self._local = threading.local()
        self._flight = threading.Condition()
        self._flying: dict[tuple[str, str], int] = {}  # (to, text) -> creates in the air
        self._mine: dict[str, int] = {}  # SID -> the notice this process sent it for (recent ones)

    # -- the client and the request we make

    def client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from twilio.rest import Client

            client = Client(
                username=self.account_sid,
                password=self.auth_token,
                account_sid=self.account_sid,
                http_client=_twilio_http_client(self.base_url, self.timeout, pool_size=4),
            )
            self._local.client = client
        return client

    def status_callback(self, notice_id: int) -> str:
        return f"{self.public_url}/sms/status?notice={notice_id}"

    def create_params(self, notice_id: int, to: str, body: str) -> dict[str, Any]:
        """The keyword arguments of messages.create (tests derive the expected form fields from them)."""
        params: dict[str, Any] = {"to": to, "body": body, "status_callback": self.status_callback(notice_id)}
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.from_number
        return params

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter: half of the step fixed, half random, so retries neither bunch nor vanish."""
        step = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    # -- the two operations

    def send(
        self,
        notice_id: int,
        to: str,
        body: str,
        idempotency_key: str,
        *,
        since: datetime | None = None,
        taken: Taken | None = None,
    ) -> SendResult:
        from requests.exceptions import RequestException
        from twilio.base.exceptions import TwilioException, TwilioRestException

        try:
            to = normalize_phone(to)
        except ValidationError as exc:
            raise InvalidNumber("号码不是有效的 E.164 号码") from exc
        since = since or utcnow()
        params = self.create_params(notice_id, to, body)
        uncertain = False  # did an earlier attempt perhaps reach Twilio?
        last = ""
        for attempt in range(self.max_attempts):
            if attempt:
                self._sleep(self._backoff(attempt))
            if uncertain:
                try:
                    found = self.find(notice_id, to, body, since, taken)
                except (TwilioException, RequestException) as exc:
                    last = f"查询失败：{type(exc).__name__} {scrub(str(getattr(exc, 'msg', '') or exc))[:200]}"
                    continue
                if found is not None:
                    log.info("notice %s: found at Twilio after an unclear answer (%s)", notice_id, found.sid)
                    return found
                uncertain = False
            messages = self.client().messages  # built before the slot is taken: the slot is for the request
            self.bucket.acquire()
            flight = (to, _letters(body))
            self._take_off(flight)
            sid = None
            try:
                message = messages.create(**params)
                sid = message.sid
            except TwilioRestException as exc:
                last = f"Twilio HTTP {exc.status} 错误码 {exc.code}：{scrub(exc.msg or '')[:300]}"
                if exc.status == 429:
                    log.info("notice %s: Twilio 429, attempt %d", notice_id, attempt + 1)
                    continue
                if exc.status >= 500:
                    log.info("notice %s: Twilio %s, attempt %d", notice_id, exc.status, attempt + 1)
                    uncertain = True
                    continue
                if exc.status == 401 or exc.code in AUTH_CODES:
                    raise ProviderUnavailable(
                        f"Twilio 拒绝了账号凭据（{last}），请检查 TWILIO_ACCOUNT_SID 与 TWILIO_AUTH_TOKEN"
                    ) from exc
                if exc.code in INVALID_NUMBER_CODES:
                    raise InvalidNumber(f"Twilio 认为号码无效：{last}") from exc
                raise Rejected(last) from exc
            except RequestException as exc:
                last = f"网络错误：{type(exc).__name__}"
                log.info("notice %s: %s, attempt %d", notice_id, type(exc).__name__, attempt + 1)
                uncertain = True
                continue
            finally:
                self._land(flight, sid, notice_id)
            return SendResult(sid=message.sid, status=twilio_status(message.status) or "queued")
        raise Transient(f"{self.max_attempts} 次尝试未成功，稍后重试（{last}）")

    def find(
        self, notice_id: int, to: str, body: str, since: datetime, taken: Taken | None = None
    ) -> SendResult | None:
        """The message Twilio already has for this notice, if any (see the module docstring for the method)."""
        messages = self.client().messages
        key = (to, _letters(body))
        floor = since - CLOCK_SKEW
        self._wait_landed(key)  # a create of the same text to the same number still in the air would confuse us

        def free(found: Any) -> list[Any]:
            hits = []
            for i, m in enumerate(found):
                if i >= self.scan:
                    break
                if m.date_created is not None and m.date_created < floor - CLOCK_SKEW:
                    break  # newest first: the rest is older than the notice
                if (
                    _letters(m.body) == key[1]
                    and (m.direction or "outbound-api").startswith("outbound")
                    and (m.date_created is None or m.date_created >= floor)
                    and self._owner(m.sid) in (None, notice_id)
                ):
                    hits.append(m)
            used = taken([m.sid for m in hits]) if taken and hits else set()
            return [m for m in hits if m.sid not in used]

        page = min(self.scan, 100)
        hits = free(messages.stream(to=to, page_size=page))
        if not hits:  # sent long ago, behind many newer messages: the date filter reaches it
            day = (floor - timedelta(days=1)).strftime("%Y-%m-%d")
            hits = free(messages.stream(to=to, date_sent_after=day, page_size=page))
        if not hits:
            return None
        oldest = min(hits, key=lambda m: (m.date_created or floor, m.sid))
        return SendResult(sid=oldest.sid, status=twilio_status(oldest.status) or "queued")

    # -- messages of this process in the air, so that concurrent lookups never take another notice's message

    def _take_off(self, key: tuple[str, str]) -> None:
        with self._flight:
            self._flying[key] = self._flying.get(key, 0) + 1

    def _land(self, key: tuple[str, str], sid: str | None, notice_id: int) -> None:
        with self._flight:
            if sid is not None:
                self._mine[sid] = notice_id
                while len(self._mine) > 50_000:
                    self._mine.pop(next(iter(self._mine)))
            self._flying[key] -= 1
            if not self._flying[key]:
                del self._flying[key]
            self._flight.notify_all()

    def _wait_landed(self, key: tuple[str, str]) -> None:
        with self._flight:
            self._flight.wait_for(lambda: key not in self._flying, timeout=self.timeout * 2)

    def _owner(self, sid: str) -> int | None:
        with self._flight:
            return self._mine.get(sid)


def sms_rate(settings: Settings) -> float:
    """XUELIANG_SMS_RATE, messages per second (default 10)."""
    return settings.sms_rate or DEFAULT_RATE


def provider_for(settings: Settings, **overrides: Any) -> SmsProvider:
    """The configured provider; `overrides` go to TwilioProvider (tests and the benchmark tune timeouts)."""
    if settings.sms_provider == "outbox":
        return OutboxProvider()
    if settings.sms_provider == "twilio":
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                (
                    "TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM_NUMBER",
                    settings.twilio_messaging_service_sid or settings.twilio_from_number,
                ),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"XUELIANG_SMS_PROVIDER=twilio needs {', '.join(missing)}; set them (environment or .env) "
                "or use XUELIANG_SMS_PROVIDER=outbox"
            )
        assert settings.twilio_account_sid and settings.twilio_auth_token
        options: dict[str, Any] = {"rate": sms_rate(settings), **overrides}
        try:
            return TwilioProvider(
                settings.twilio_account_sid,
                settings.twilio_auth_token,
                public_url=settings.public_url,
                messaging_service_sid=settings.twilio_messaging_service_sid,
                from_number=settings.twilio_from_number,
                base_url=settings.twilio_base_url,
                **options,
            )
        except ProviderUnavailable as exc:
            raise ValueError(exc.message) from exc
    raise ValueError(f"XUELIANG_SMS_PROVIDER={settings.sms_provider!r} is not available; use outbox or twilio")


# -------------------------------------------------------------------------------------------------- sender


@dataclass(frozen=True)
class _Claim:
    notice_id: int
    body: str
    key: str
    sealed: str | None
    masked: str | None
    created_at: datetime
    recovered: bool  # tried before (a crash, an unclear answer): look it up before sending


def _claim(
    db: Database,
    case_number: str | None,
    limit: int,
    lease: timedelta,
    ids: Sequence[int] | None = None,
    before: datetime | None = None,
) -> list[_Claim]:
    now = utcnow()
    with db.write() as session:

        def scoped(stmt: Any, room: int) -> Any:
            stmt = stmt.order_by(Notice.id).limit(room)
            if case_number:
                stmt = stmt.join(Case, Case.id == Notice.case_id).where(Case.number == case_number)
            if ids is not None:
                stmt = stmt.where(Notice.id.in_(list(ids)))
            if session.get_bind().dialect.name == "postgresql":
                stmt = stmt.with_for_update(of=Notice, skip_locked=True)
            return stmt

        stale = session.execute(
            scoped(
                select(Notice).where(
                    Notice.status == "sending", or_(Notice.updated_at.is_(None), Notice.updated_at < now - lease)
                ),
                limit,
            )
        ).scalars()
        picked: list[tuple[Notice, bool]] = [(notice, True) for notice in stale]
        if len(picked) < limit:
            waiting = select(Notice).where(Notice.status == "pending")
            if before is not None:  # not what this run itself put back after a transient failure
                waiting = waiting.where(or_(Notice.updated_at.is_(None), Notice.updated_at <= before))
            fresh = session.execute(scoped(waiting, limit - len(picked)))
            picked += [(notice, notice.attempts > 0) for notice in fresh.scalars()]
        claims = []
        for notice, recovered in picked:
            notice.status = "sending"
            notice.attempts += 1
            notice.updated_at = now
            contact = session.get(UnitContact, notice.contact_id) if notice.contact_id else None
            claims.append(
                _Claim(
                    notice.id,
                    notice.body,
                    notice.idempotency_key,
                    contact.phone_sealed if contact else None,
                    contact.phone_masked if contact else None,
                    notice.created_at,
                    recovered,
                )
            )
    return claims


def _taken_by_others(db: Database, notice_id: int) -> Taken:
    def taken(sids: Sequence[str]) -> set[str]:
        if not sids:
            return set()
        with db.read() as session:
            return set(
                session.execute(
                    select(Notice.provider_sid).where(Notice.provider_sid.in_(list(sids)), Notice.id != notice_id)
                ).scalars()
            )

    return taken


def _finish(db: Database, notice_id: int, status: str, sid: str | None = None, error: str | None = None) -> list[int]:
    """Record the provider's answer; a failure makes the backup contact's notice in the same transaction."""
    now = utcnow()
    with db.write() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        if sid:
            if notice.provider_sid is None:
                notice.provider_sid = sid
            elif notice.provider_sid != sid:  # a delivery report named another message first: keep both visible
                error = f"{error + '；' if error else ''}Twilio 另有一条短信 {sid}"
            notice.sent_at = notice.sent_at or now
        if notice.status == "sending":
            notice.status, notice.error, notice.updated_at = status, error, now
            changed = True
        else:  # a delivery report got here first: only move forward
            changed = advance_status(notice, status, error, now)
        if changed and notice.status in FAILED:
            return create_backup_notices(session, notice, now)
    return []


def _release(db: Database, notice_id: int, error: str, final: bool = True) -> None:
    """Back to `pending` for the next run (or, when `final`, `failed` after MAX_RUNS runs), unless a delivery
    report moved it on meanwhile."""
    with db.write() as session:
        notice = session.get(Notice, notice_id)
        assert notice is not None
        if notice.status != "sending":
            return
        notice.status = "failed" if final and notice.attempts >= MAX_RUNS else "pending"
        notice.error = error[:2000]
        notice.updated_at = utcnow()
        if notice.status == "failed":
            create_backup_notices(session, notice)


def _deliver(db: Database, provider: SmsProvider, vault: PhoneVault, claim: _Claim) -> list[int]:
    who = claim.masked or "联系人"
    if claim.sealed is None:
        return _finish(db, claim.notice_id, "failed", error="联系人没有登记手机号码")
    try:
        to = normalize_phone(vault.open(claim.sealed))
    except ValidationError:
        return _finish(
            db,
            claim.notice_id,
            "invalid_number",
            error=f"{who} 的号码不是有效的 E.164 号码（如 +8613800138000），请更正单位联系人",
        )
    except ValueError as exc:  # the wrong key: every notice would fail alike, so stop loudly and keep them
        message = "联系人号码无法解密（XUELIANG_SECRET_KEY 是否变更？），未发送"
        _release(db, claim.notice_id, message, final=False)
        raise ProviderUnavailable(message) from exc
    taken = _taken_by_others(db, claim.notice_id)
    try:
        if claim.recovered:
            try:
                found = provider.find(claim.notice_id, to, claim.body, claim.created_at, taken)
            except SmsError:
                raise
            except Exception as exc:  # the provider cannot be asked now: try the whole notice again later
                raise Transient(f"无法向服务商核对是否已发送（{type(exc).__name__}），稍后重试") from exc
            if found is not None:
                log.info("notice %s reconciled: the provider already had %s", claim.notice_id, found.sid)
                return _finish(db, claim.notice_id, found.status, sid=found.sid)
        result = provider.send(claim.notice_id, to, claim.body, claim.key, since=claim.created_at, taken=taken)
    except InvalidNumber as exc:
        return _finish(db, claim.notice_id, "invalid_number", error=f"{who}：{exc.message}")
    except (Transient, ProviderUnavailable) as exc:
        _release(db, claim.notice_id, exc.message)
        if isinstance(exc, ProviderUnavailable):
            raise
        return []
    except SmsError as exc:
        return _finish(db, claim.notice_id, exc.status, error=exc.message)
    except Exception as exc:  # a lookup that failed for good, a bug: never leave the notice claimed for a lease
        _release(db, claim.notice_id, f"发送出错：{type(exc).__name__}", final=False)
        raise
    return _finish(db, claim.notice_id, result.status, sid=result.sid)


def send_pending(
    db: Database,
    provider: SmsProvider,
    vault: PhoneVault,
    case_number: str | None = None,
    limit: int = 100,
    *,
    lease: timedelta = SENDING_LEASE,
    concurrency: int = 4,
    before: datetime | None = None,
) -> list[int]:
    """Send pending notices (of one case, or all) and reconcile those left `sending` longer than `lease`;
    returns the ids handed to the provider. Backup notices made by failures on the way are sent too. With
    `before`, only notices last touched by then are taken (a run looping over batches skips what it put back).

    When the run stops on an error (ProviderUnavailable, a database failure), the notices it claimed but did not
    finish go back to `pending`; having been tried, they are looked up at the provider before the next send."""
    handled: list[int] = []
    claims = _claim(db, case_number, limit, lease, before=before)
    try:
        for _round in range(3):  # the claim, then backups of backups (priority 1 -> 2 -> 3)
            if not claims:
                break
            backups: list[int] = []
            # lookups first and one at a time, so that two notices never both take the same message
            for claim in (c for c in claims if c.recovered):
                backups += _deliver(db, provider, vault, claim)
                handled.append(claim.notice_id)
            fresh = [c for c in claims if not c.recovered]
            backups += _deliver_all(db, provider, vault, fresh, concurrency, handled)
            claims = _claim(db, None, len(backups), lease, ids=backups) if backups else []
    except BaseException:
        done = set(handled)
        for claim in claims:
            if claim.notice_id not in done:
                _release(db, claim.notice_id, "本轮发送中止，稍后重试", final=False)
        raise
    return handled


def _deliver_all(
    db: Database,
    provider: SmsProvider,
    vault: PhoneVault,
    claims: list[_Claim],
    concurrency: int,
    handled: list[int],
) -> list[int]:
    """Deliver in a few threads (the rate bucket paces them); the first error stops the rest from starting."""
    stop = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(claim: _Claim) -> list[int]:
        if stop.is_set():
            return []
        try:
            backups = _deliver(db, provider, vault, claim)
        except BaseException as exc:
            stop.set()
            errors.append(exc)
            return []
        with lock:
            handled.append(claim.notice_id)
        return backups

    if concurrency <= 1 or len(claims) <= 1:
        results = [one(claim) for claim in claims]
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sms") as pool:
            results = list(pool.map(one, claims))
    if errors:
        raise errors[0]
    return [i for ids in results for i in ids]
