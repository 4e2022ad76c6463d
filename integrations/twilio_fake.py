"""A fake Twilio REST API: a TEST AND BENCHMARK DOUBLE, not an SMS provider. Nothing is delivered anywhere.

The tests and `xueliang bench sms` point the real twilio-python client at it (XUELIANG_TWILIO_BASE_URL = its
`url`). It is a real HTTP server (threads, 127.0.0.1, an ephemeral port) that implements what Xueliang calls:

- POST /2010-04-01/Accounts/{AccountSid}/Messages.json: To, From or MessagingServiceSid, Body, StatusCallback,
  MediaUrl; answers 201 with a Message resource shaped like Twilio's (a fresh SM… SID, status queued, or
  accepted with a Messaging Service), or Twilio's 400 errors (21211 invalid To, 21603 no sender, 21602 no body);
- GET …/Messages.json with the list filters To, From, DateSent, DateSent< and DateSent> (a message not sent yet
  has no DateSent and is left out by the date filters), newest first, paged (PageSize, Page, next_page_uri);
- GET …/Messages/{Sid}.json, and GET …/Messages/{Sid}/Media/{Sid} for media registered with `add_media`.

Every request is recorded with its form fields exactly as received (`requests`). Faults, per request or for the
next N requests of a method (`fail_next`) or periodically (`fail_every`): "429" and "500" (nothing created),
"timeout" (the message is created, the answer comes only after `slow_seconds`, past the client's timeout),
"drop" (the message is created, then the connection is closed without an answer) and "hold" (the message is
created and the answer waits for `release()`; `held` is set meanwhile, so a test can kill the caller right
after Twilio "has" the message). `status_callback` changes a message's status and calls its StatusCallback URL,
signed as Twilio signs (RequestValidator's signature over the URL and the form), and `signed` signs any webhook.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from twilio.request_validator import RequestValidator

from models.notices import segments

API = "2010-04-01"
FAULTS = ("429", "500", "timeout", "drop", "hold")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
Send = Callable[[str, Mapping[str, str], Mapping[str, str]], int]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]  # every value of every field, in the order received
    headers: dict[str, str]
    authorized: bool
    at: float  # time.monotonic() when received
    status: int | None = None  # what was answered; None when the connection was dropped or timed out
    fault: str | None = None

    def field(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None

    @property
    def creates_message(self) -> bool:
        return self.method == "POST" and self.path.endswith("/Messages.json")


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    media_urls: list[str]
    status_callback: str | None
    status: str
    created: datetime
    seq: int
    sent: datetime | None = None
    updated: datetime | None = None
    error_code: int | None = None

    def resource(self, account_sid: str) -> dict[str, Any]:
        uri = f"/{API}/Accounts/{account_sid}/Messages/{self.sid}"
        return {
            "account_sid": account_sid,
            "api_version": API,
            "body": self.body,
            "date_created": format_datetime(self.created),
            "date_sent": format_datetime(self.sent) if self.sent else None,
            "date_updated": format_datetime(self.updated or self.created),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": str(len(self.media_urls)),
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class _Fault:
    kind: str
    method: str
    remaining: int


@dataclass
class _Media:
    content: bytes
    content_type: str


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _parse_day(value: str) -> tuple[date | None, datetime | None]:
    """Twilio's date filters take YYYY-MM-DD; twilio-python sends datetimes as YYYY-MM-DDTHH:MM:SSZ."""
    value = value.strip().lstrip("<>=")
    if len(value) == 10:
        return date.fromisoformat(value), None
    return None, datetime.fromisoformat(value.replace("Z", "+00:00"))


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = "AC" + "f" * 32,
        auth_token: str = "fake-twilio-auth-token",
        *,
        slow_seconds: float = 2.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.slow_seconds = slow_seconds
        self.held = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._messages: dict[str, FakeMessage] = {}
        self._media: dict[str, _Media] = {}
        self._faults: list[_Fault] = []
        self._every: list[tuple[str, str, int]] = []  # (method, kind, every n-th request)
        self._counts: dict[str, int] = {}
        self._seq = 0
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what happened

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def creates(self) -> list[RecordedRequest]:
        """Every POST to Messages.json, answered or not."""
        return [r for r in self.requests if r.creates_message]

    @property
    def messages(self) -> list[FakeMessage]:
        """Messages the fake accepted (created), oldest first."""
        with self._lock:
            return sorted(self._messages.values(), key=lambda m: m.seq)

    def message(self, sid: str) -> FakeMessage:
        with self._lock:
            return self._messages[sid]

    # -- faults

    def fail_next(self, kind: str, times: int = 1, method: str = "POST") -> None:
        """The next `times` requests of `method` (to Messages.json) get `kind` (one of FAULTS)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind}; one of {FAULTS}")
        if kind == "hold":
            self.held.clear()
            self._released.clear()
        with self._lock:
            self._faults.append(_Fault(kind, method.upper(), times))

    def fail_every(self, kind: str, every: int, method: str = "POST") -> None:
        """Every `every`-th request of `method` gets `kind` (for the benchmark); several rules may be set, the
        first that applies wins."""
        if kind not in FAULTS or kind == "hold" or every < 1:
            raise ValueError(f"fail_every takes one of {FAULTS[:-1]} and a positive period")
        with self._lock:
            self._every.append((method.upper(), kind, every))

    def release(self) -> None:
        self._released.set()

    def _take_fault(self, method: str) -> str | None:
        with self._lock:
            self._counts[method] = self._counts.get(method, 0) + 1
            for fault in self._faults:
                if fault.method == method and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault.kind
            for rule_method, kind, every in self._every:
                if rule_method == method and self._counts[method] % every == 0:
                    return kind
        return None

    # -- media and webhooks

    def add_media(self, content: bytes, content_type: str = "image/jpeg", message_sid: str | None = None) -> str:
        """Register a media file; returns its URL in Twilio's public form (https://api.twilio.com/…), which a
        client rebased onto this fake fetches from here (HTTP Basic with the account's credentials)."""
        media_sid = "ME" + uuid.uuid4().hex
        message_sid = message_sid or "MM" + uuid.uuid4().hex
        with self._lock:
            self._media[media_sid] = _Media(content, content_type)
        return f"https://api.twilio.com/{API}/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"

    def signature(self, url: str, params: Mapping[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, dict(params)))

    def signed(self, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """The headers Twilio sends with a webhook to `url` carrying `params`."""
        return {
            "X-Twilio-Signature": self.signature(url, params),
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
        }

    def inbound(
        self, from_: str, to: str, body: str, media: Sequence[tuple[str, str]] = (), sid: str | None = None
    ) -> dict[str, str]:
        """The form of Twilio's incoming-message webhook (media: (url, content type) pairs)."""
        sid = sid or ("MM" if media else "SM") + uuid.uuid4().hex
        params = {
            "ToCountry": "CN",
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": "CN",
            "To": to,
            "NumSegments": str(segments(body)),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": API,
        }
        for i, (url, content_type) in enumerate(media):
            params[f"MediaUrl{i}"] = url
            params[f"MediaContentType{i}"] = content_type
        return params

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> FakeMessage:
        now = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            message = self._messages[sid]
            message.status, message.updated = status, now
            if error_code is not None:
                message.error_code = error_code
            if status in ("sent", "delivered", "undelivered", "failed") and message.sent is None:
                message.sent = now
            return message

    def status_callback(self, sid: str, status: str, error_code: int | None = None, send: Send | None = None) -> int:
        """Move the message to `status` and call its StatusCallback as Twilio would; returns the HTTP status.
        `send(url, form, headers)` replaces the HTTP call (e.g. a FastAPI TestClient's post)."""
        message = self.set_status(sid, status, error_code)
        if not message.status_callback:
            raise ValueError(f"message {sid} has no StatusCallback")
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API,
            "From": message.from_ or "+15005550006",
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return post_form(message.status_callback, params, self.signed(message.status_callback, params), send)

    # -- the HTTP side

    def _create(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any], FakeMessage | None]:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        to, sender, service = one("To") or "", one("From"), one("MessagingServiceSid")
        body, media = one("Body") or "", form.get("MediaUrl", [])
        if not _E164.match(to):
            return 400, _error(400, 21211, f"The 'To' number {to} is not a valid phone number."), None
        if not (sender or service):
            return 400, _error(400, 21603, "A 'From' phone number is required."), None
        if not (body or media):
            return 400, _error(400, 21602, "Message body is required."), None
        now = datetime.now(UTC).replace(microsecond=0)
        with self._lock:
            self._seq += 1
            message = FakeMessage(
                sid="SM" + uuid.uuid4().hex,
                to=to,
                from_=sender,
                messaging_service_sid=service,
                body=body,
                media_urls=list(media),
                status_callback=one("StatusCallback"),
                status="accepted" if service else "queued",
                created=now,
                seq=self._seq,
            )
            self._messages[message.sid] = message
        return 201, message.resource(self.account_sid), message

    def _list(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        with self._lock:
            found = list(self._messages.values())
        if one("To"):
            found = [m for m in found if m.to == one("To")]
        if one("From"):
            found = [m for m in found if m.from_ == one("From")]
        for name, keep in (
            ("DateSent", lambda d, v: d == v),
            ("DateSent<", lambda d, v: d <= v),
            ("DateSent>", lambda d, v: d >= v),
        ):
            value = one(name)
            if value is None:
                continue
            day, moment = _parse_day(value)
            found = [
                m
                for m in found
                if m.sent is not None and (keep(m.sent.date(), day) if day is not None else keep(m.sent, moment))
            ]
        found.sort(key=lambda m: (m.sent or m.created, m.seq), reverse=True)
        size = max(1, min(1000, int(one("PageSize") or 50)))
        page = max(0, int(one("Page") or 0))
        chunk = found[page * size : (page + 1) * size]
        filters = [(k, v) for k, vs in query.items() for v in vs if k not in ("PageSize", "Page", "PageToken")]

        def page_uri(n: int) -> str:
            return f"{path}?{urlencode([*filters, ('PageSize', size), ('Page', n), ('PageToken', f'PA{n}')])}"

        more = (page + 1) * size < len(found)
        return {
            "messages": [m.resource(self.account_sid) for m in chunk],
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "start": page * size,
            "uri": page_uri(page),
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "FakeTwilio/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # quiet: phone numbers are in the URLs
                return

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _answer(self, status: int, payload: Any, content_type: str = "application/json") -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout fault)
                    pass

            def _serve(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                form: dict[str, list[str]] = {}
                for key, value in parse_qsl(raw.decode("utf-8"), keep_blank_values=True):
                    form.setdefault(key, []).append(value)
                authorized = self._authorized()
                record = RecordedRequest(
                    method=method,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    form=form,
                    headers={k: v for k, v in self.headers.items() if k.lower() != "authorization"},
                    authorized=authorized,
                    at=time.monotonic(),
                )
                with fake._lock:
                    fake._requests.append(record)
                record.status = self._route(method, parts.path, record)

            def _authorized(self) -> bool:
                scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
                if scheme.lower() != "basic":
                    return False
                try:
                    user, _, password = base64.b64decode(value).decode().partition(":")
                except ValueError:
                    return False
                return user == fake.account_sid and password == fake.auth_token

            def _route(self, method: str, path: str, record: RecordedRequest) -> int | None:
                if not record.authorized:
                    self._answer(401, _error(401, 20003, "Authenticate"))
                    return 401
                prefix = f"/{API}/Accounts/{fake.account_sid}/Messages"
                if not path.startswith(prefix):
                    self._answer(404, _error(404, 20404, f"The requested resource {path} was not found"))
                    return 404
                rest = path[len(prefix) :]
                if rest == ".json":
                    fault = fake._take_fault(method)
                    record.fault = fault
                    if fault == "429":
                        self._answer(429, _error(429, 20429, "Too Many Requests"))
                        return 429
                    if fault == "500":
                        self._answer(500, _error(500, 20500, "Internal Server Error"))
                        return 500
                    if method == "GET":
                        self._answer(200, fake._list(path, record.query))
                        return 200
                    status, payload, created = fake._create(record.form)
                    if created is not None and fault == "drop":
                        self.close_connection = True
                        return None
                    if created is not None and fault == "timeout":
                        time.sleep(fake.slow_seconds)
                        self._answer(status, payload)
                        return None
                    if created is not None and fault == "hold":
                        fake.held.set()
                        fake._released.wait(60)
                    self._answer(status, payload)
                    return status
                media = re.fullmatch(r"/(MM|SM)[0-9a-f]{32}/Media/(ME[0-9a-f]{32})", rest)
                if method == "GET" and media:
                    with fake._lock:
                        item = fake._media.get(media.group(2))
                    if item is None:
                        self._answer(404, _error(404, 20404, "media not found"))
                        return 404
                    self._answer(200, item.content, item.content_type)
                    return 200
                single = re.fullmatch(r"/((?:SM|MM)[0-9a-f]{32})\.json", rest)
                if method == "GET" and single:
                    with fake._lock:
                        message = fake._messages.get(single.group(1))
                    if message is None:
                        self._answer(404, _error(404, 20404, "message not found"))
                        return 404
                    self._answer(200, message.resource(fake.account_sid))
                    return 200
                self._answer(405, _error(405, 20004, "Method not allowed"))
                return 405

        return Handler


def post_form(url: str, params: Mapping[str, str], headers: Mapping[str, str], send: Send | None = None) -> int:
    """POST a form to `url` (or hand it to `send`); returns the HTTP status."""
    if send is not None:
        return send(url, params, headers)
    request = urllib.request.Request(url, data=urlencode(params).encode(), headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


__all__ = ["FAULTS", "FakeMessage", "FakeTwilio", "RecordedRequest", "post_form"]
