"""The inbound HTTP service (`xueliang gateway`). Stateless: every replica talks to the same database.

Camera endpoints: authenticate the source (Bearer token, HTTP Basic, or ?token=), bound the body, parse it with
the vendor's parser, and commit the signals (raw body kept) before answering 202. What cannot be understood is
answered 4xx and kept in the dead-letter table; an unauthenticated request stores nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select, text

from integrations.cameras import ParsedSignal, ParseError
from integrations.evidence_page import evidence_router
from integrations.open311 import open311_router
from integrations.secrets import PhoneVault, verify_password
from integrations.sms_webhooks import sms_router
from models.cases import DeadLetter
from models.db import Database, utcnow
from models.intake import CameraIndex, SignalIn, record_signals
from models.org import CameraSource
from models.settings import Settings

MAX_BODY = 4 * 1024 * 1024
DEAD_LETTER_KEEP = 1024 * 1024  # bytes of an oversized body kept for inspection

Parser = Callable[[bytes, str | None, dict[str, str]], list[ParsedSignal]]


def _parsers() -> dict[str, tuple[Parser, tuple[str, ...]]]:
    """vendor -> (parser, accepted media types). Imported lazily so a broken parser fails its endpoint only."""
    from integrations.cameras import dahua, frigate, gb28181, generic, hikvision

    xml = ("application/xml", "text/xml", "application/manscdp+xml", "multipart/")
    return {
        "hikvision": (lambda b, ct, q: hikvision.parse(b, ct), (*xml, "text/plain", "application/octet-stream")),
        "dahua": (lambda b, ct, q: dahua.parse(b, ct, q.get("device")), ("text/plain", "multipart/", "application/")),
        "gb28181": (lambda b, ct, q: gb28181.parse(b, ct), (*xml, "text/plain")),
        "frigate": (lambda b, ct, q: frigate.parse(b, ct), ("application/json", "text/plain")),
        "generic": (lambda b, ct, q: generic.parse(b, ct), ("application/json",)),
    }


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class SourceAuth:
    """Resolves the camera source of a request. Argon2 checks of Basic passwords are slow by design, so a
    successful (username, password) pair is remembered in memory by its digest, like tokens, for TTL_S seconds:
    a rotated or changed credential stops working within that time in every gateway process."""

    TTL_S = 30.0

    def __init__(self, db: Database) -> None:
        self.db = db
        self._basic_ok: dict[str, tuple[int, float]] = {}
        self._tokens: dict[str, tuple[int | None, float]] = {}
        self._lock = threading.Lock()

    def remembered(self, request: Request) -> int | None:
        """The source of a request whose credentials were checked recently, without touching the database."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else request.query_params.get("token")
        with self._lock:
            if token:
                return self._fresh(self._tokens.get(hashlib.sha256(token.encode()).hexdigest()))
            elif scheme.lower() == "basic" and value:
                try:
                    username, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                return self._fresh(self._basic_ok.get(hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()))
        return None

    def _fresh(self, cached: tuple[int | None, float] | None) -> int | None:
        return cached[0] if cached is not None and time.monotonic() - cached[1] < self.TTL_S else None

    def resolve(self, request: Request) -> int | None:
        header = request.headers.get("authorization", "")
        token = request.query_params.get("token")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            token = value.strip()
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            with self._lock:
                cached = self._tokens.get(digest)
            if cached is not None and time.monotonic() - cached[1] < self.TTL_S:
                return cached[0]
            with self.db.read() as session:
                source_id = session.execute(
                    select(CameraSource.id).where(CameraSource.token_digest == digest)
                ).scalar_one_or_none()
            with self._lock:
                if len(self._tokens) > 10_000:  # bound the memo against token-guessing floods
                    self._tokens.clear()
                self._tokens[digest] = (source_id, time.monotonic())
            return source_id
        if scheme.lower() == "basic" and value:
            try:
                username, _, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            memo = hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
            with self._lock:
                known = self._fresh(self._basic_ok.get(memo))
            if known is not None:
                return known
            with self.db.read() as session:
                sources = (
                    session.execute(select(CameraSource).where(CameraSource.basic_username == username)).scalars().all()
                )
                for source in sources:
                    if verify_password(source.basic_password_digest, password):
                        with self._lock:
                            if len(self._basic_ok) > 10_000:
                                self._basic_ok.clear()
                            self._basic_ok[memo] = (source.id, time.monotonic())
                        return source.id
        return None


def store_dead_letter(
    db: Database,
    endpoint: str,
    content_type: str | None,
    raw: bytes,
    message: str,
    source_id: int | None = None,
    query: str | None = None,
) -> int:
    with db.write() as session:
        row = DeadLetter(
            endpoint=endpoint,
            content_type=(content_type or "")[:120] or None,
            raw=raw,
            error=message,
            received_at=utcnow(),
            source_id=source_id,
            query=(query or "")[:500] or None,
        )
        session.add(row)
        session.flush()
        return row.id


Item = tuple[str, list[ParsedSignal], bytes, str | None, int | None, datetime]


def record_parsed(db: Database, items: list[Item], cameras: CameraIndex | None = None) -> list[list[dict[str, Any]]]:
    """Commit the signals of several bodies in one transaction; for each body, its signals' ids and duplicate
    flags (a copy of an alarm already recorded, or earlier in the same transaction, is a duplicate)."""
    flat = [
        SignalIn(
            source=vendor,
            type_=s.type,
            state=s.state,
            camera_ref=s.camera_ref,
            device_time=s.device_time,
            time_flagged=s.time_flagged,
            external_id=s.external_id,
            fields=s.fields,
            raw=raw,
            content_type=content_type,
            received_at=received_at,
            source_id=source_id,
        )
        for vendor, signals, raw, content_type, source_id, received_at in items
        for s in signals
    ]
    with db.write() as session:
        recorded = iter(record_signals(session, flat, cameras))
    return [
        [{"id": r.id, "duplicate": r.duplicate} for r in itertools.islice(recorded, len(signals))]
        for _, signals, *_ in items
    ]


class GroupCommit:
    """Commits the alarms of concurrent requests together: each request waits for the transaction that holds
    its signals (so nothing is answered 202 before it is durable), and one commit serves many requests."""

    def __init__(self, db: Database, max_items: int = 500) -> None:
        self.db = db
        self.max_items = max_items
        self.cameras = CameraIndex()
        self._queue: list[tuple[Item, asyncio.Future[list[dict[str, Any]]]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def record(self, item: Item) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run())
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._queue.append((item, future))
        assert self._wake is not None
        self._wake.set()
        return await future

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self.max_items], self._queue[self.max_items :]
                try:
                    answers = await run_in_threadpool(record_parsed, self.db, [i for i, _ in batch], self.cameras)
                except Exception as exc:  # the transaction failed: every request in it is told, none is lost
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)


def replay_dead_letter(db: Database, dead_letter_id: int) -> list[dict[str, Any]]:
    """Parse a kept body again (after a parser fix) and record its signals; say what happened on the row.
    Raises ParseError when it still cannot be understood, LookupError when there is no such dead letter."""
    from urllib.parse import parse_qsl

    with db.read() as session:
        row = session.get(DeadLetter, dead_letter_id)
        if row is None:
            raise LookupError(f"no dead letter {dead_letter_id}")
        endpoint, raw, content_type, source_id, query = (
            row.endpoint,
            row.raw,
            row.content_type,
            row.source_id,
            row.query,
        )
    vendor = endpoint.rsplit("/", 1)[-1]
    parsers = _parsers()
    if vendor not in parsers:
        raise ParseError(f"dead letter {dead_letter_id} came from {endpoint}, which has no parser")
    try:
        signals = parsers[vendor][0](raw, content_type, dict(parse_qsl(query or "")))
        if not signals:
            raise ParseError("the body holds no alarm", "empty")
    except ParseError as exc:
        with db.write() as session:
            row = session.get(DeadLetter, dead_letter_id)
            assert row is not None
            row.replayed_at = utcnow()
            row.replay_result = f"still unparseable: {exc}"
        raise
    [results] = record_parsed(db, [(vendor, signals, raw, content_type, source_id, utcnow())])
    with db.write() as session:
        row = session.get(DeadLetter, dead_letter_id)
        assert row is not None
        row.replayed_at = utcnow()
        row.replay_result = f"recorded signals {[r['id'] for r in results]}"
    return results


def create_app(settings: Settings, db: Database | None = None, max_body: int = MAX_BODY) -> FastAPI:
    database = db or Database(settings.database_url)
    app = FastAPI(title="Xueliang gateway", version="0.1.0")
    app.state.db = database
    app.state.settings = settings
    auth = SourceAuth(database)
    writer = GroupCommit(database)
    vault = PhoneVault.from_settings(settings)
    app.include_router(open311_router(database, settings, vault))
    app.include_router(sms_router(database, settings, vault))
    app.include_router(evidence_router(database, settings))

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            with database.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # the database is down or unreachable: say so, do not crash
            return JSONResponse({"status": "down", "error": type(exc).__name__}, status_code=503)
        return {"status": "ok"}

    @app.post("/ingest/{vendor}")
    async def ingest(vendor: str, request: Request) -> Any:
        parsers = _parsers()
        if vendor not in parsers:
            return error(404, "unknown_endpoint", f"no ingest endpoint for {vendor!r}; use one of {', '.join(parsers)}")
        source_id = auth.remembered(request)
        if source_id is None:  # not seen recently: check against the database (a thread, not the event loop)
            source_id = await run_in_threadpool(auth.resolve, request)
        if source_id is None:
            return error(401, "unauthorized", "missing or wrong credentials for this source (Bearer, Basic or ?token=)")
        endpoint = f"/ingest/{vendor}"
        query = request.url.query
        content_type = request.headers.get("content-type")
        declared = request.headers.get("content-length")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body:
                kept = b"".join(chunks)[:DEAD_LETTER_KEEP]
                message = f"body larger than {max_body} bytes (declared {declared or 'unknown'})"
                await run_in_threadpool(
                    store_dead_letter, database, endpoint, content_type, kept, message, source_id, query
                )
                return error(413, "too_large", message)
            chunks.append(chunk)
        raw = b"".join(chunks)
        parser, media_types = parsers[vendor]
        media = (content_type or "").split(";")[0].strip().lower()
        if media and not any(media.startswith(m) for m in media_types):
            message = f"{vendor} bodies are {', '.join(media_types)}, not {media}"
            await run_in_threadpool(store_dead_letter, database, endpoint, content_type, raw, message, source_id, query)
            return error(415, "unsupported_media_type", message)
        received_at = utcnow()
        try:
            signals = parser(raw, content_type, dict(request.query_params))
            if not signals:
                raise ParseError("the body holds no alarm", "empty")
        except ParseError as exc:
            message = str(exc)
            await run_in_threadpool(store_dead_letter, database, endpoint, content_type, raw, message, source_id, query)
            return error(400, exc.code, message)
        try:
            results = await writer.record((vendor, signals, raw, content_type, source_id, received_at))
        except Exception as exc:  # the database refused the transaction: nothing was stored, the sender retries
            return error(503, "unavailable", f"could not store the alarm, try again: {type(exc).__name__}")
        return JSONResponse({"signals": results}, status_code=202)

    return app


def app_from_environment() -> FastAPI:
    """The factory uvicorn's worker processes call (each process builds its own app and engine)."""
    return create_app(Settings.load())


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    import uvicorn

    if workers > 1:
        uvicorn.run(
            "integrations.gateway:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
