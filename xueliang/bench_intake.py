"""`xueliang bench intake`: (a) gateway acceptance rate over loopback with realistic vendor payloads, (b) signals
-> cases throughput over 100k signals, (c) alarm -> case latency with the intake loop running, (d) the same work
as one Prefect flow run per signal, the naive baseline, measured in the same run. Per database."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvloop
from sqlalchemy import insert, select

from integrations.cameras import ParseError
from integrations.gateway import _parsers
from integrations.simulate import Alarm, load_cameras, make_alarms
from models.cases import Signal
from models.db import Database
from models.intake import find_camera, idempotency_keys
from xueliang.benchkit import machine_info, postgres_available, scratch_database

TOKEN = "demo-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(args: list[str], url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XUELIANG_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "xueliang.cli", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"{url}: exited {proc.returncode}: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _request(alarm: Alarm) -> bytes:
    head = (
        f"POST {alarm.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: {alarm.content_type}\r\nContent-Length: {len(alarm.body)}\r\n\r\n"
    )
    return head.encode() + alarm.body


async def _blast(port: int, requests: list[bytes], connections: int) -> tuple[float, int]:
    """Send every request over `connections` keep-alive connections; returns (seconds, non-202 answers)."""
    queue = list(reversed(requests))
    bad = 0

    async def worker() -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            writer.write(queue.pop())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            bad += status != 202
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started, bad


def gateway_rate(url: str, count: int, workers: int, connections: int) -> dict[str, Any]:
    db = Database(url)
    cameras = load_cameras(db)
    db.dispose()
    alarms = make_alarms(cameras, count + 500, seed=11)
    port = _free_port()
    proc = _start(["gateway", "--port", str(port), "--workers", str(workers)], url)
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", proc)
        uvloop.run(_blast(port, [_request(a) for a in alarms[:500]], connections))  # warm-up
        seconds, bad = uvloop.run(_blast(port, [_request(a) for a in alarms[500:]], connections))
    finally:
        _stop(proc)
    return {
        "alarms_per_s": round(count / seconds, 1),
        "alarms": count,
        "seconds": round(seconds, 2),
        "not_accepted": bad,
        "gateway_processes": workers,
        "connections": connections,
    }


def _signal_rows(db: Database, alarms: list[Alarm], start: datetime) -> list[dict[str, Any]]:
    """Parse the alarms as the gateway would and shape Signal rows (bulk-inserted outside the timing)."""
    parsers = _parsers()
    rows: list[dict[str, Any]] = []
    cameras: dict[tuple[str, str | None], int | None] = {}
    with db.read() as session:
        for i, alarm in enumerate(alarms):
            query = dict(p.split("=", 1) for p in alarm.path.partition("?")[2].split("&") if "=" in p)
            try:
                parsed = parsers[alarm.vendor][0](alarm.body, alarm.content_type, query)
            except ParseError:
                continue
            for s in parsed:
                ref = (alarm.vendor, s.camera_ref)
                if ref not in cameras:
                    camera = find_camera(session, alarm.vendor, s.camera_ref, None)
                    cameras[ref] = camera.id if camera else None
                received = start + timedelta(milliseconds=i)
                key = idempotency_keys(
                    alarm.vendor, s.camera_ref, s.type, s.state, s.device_time, s.external_id, s.fields, received
                )[0]
                rows.append(
                    {
                        "idempotency_key": f"{key}:{i}",
                        "source": alarm.vendor,
                        "type": s.type,
                        "state": s.state,
                        "camera_id": cameras[ref],
                        "camera_ref": s.camera_ref,
                        "time": s.device_time or received,
                        "time_flagged": s.time_flagged,
                        "received_at": received,
                        "content_type": alarm.content_type,
                        "raw": alarm.body,
                        "fields": s.fields,
                        "status": "new",
                    }
                )
    return rows


def intake_throughput(url: str, count: int, batch: int) -> dict[str, Any]:
    from flows.intake import drain

    db = Database(url)
    start = datetime.now(UTC) - timedelta(days=2)
    alarms = make_alarms(load_cameras(db), count, start=start, seed=5, repeat_share=0.5)
    rows = _signal_rows(db, alarms, start)
    with db.write() as session:
        for i in range(0, len(rows), 5000):
            session.execute(insert(Signal), rows[i : i + 5000])
    started = time.perf_counter()
    report = drain(db, "LY", batch)
    seconds = time.perf_counter() - started
    db.dispose()
    return {
        "signals_per_s": round(report.processed / seconds, 1),
        "signals": report.processed,
        "seconds": round(seconds, 2),
        "cases": len(report.cases),
        "attached": report.attached,
        "suppressed": report.suppressed,
        "batch": batch,
    }


def naive_rate(url: str, count: int) -> dict[str, Any]:
    """One Prefect flow run per signal (an ephemeral Prefect API when PREFECT_API_URL is not set)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.intake import intake_signal

    db = Database(url)
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = _signal_rows(db, make_alarms(load_cameras(db), count + 1, start=start, seed=9), start)
    with db.write() as session:
        session.execute(insert(Signal), rows)
        ids = list(session.execute(select(Signal.id).where(Signal.status == "new").order_by(Signal.id)).scalars())
    db.dispose()
    intake_signal(ids[0], url)  # warm-up: the first run starts Prefect's machinery
    started = time.perf_counter()
    for signal_id in ids[1:]:
        intake_signal(signal_id, url)
    seconds = time.perf_counter() - started
    return {"per_signal_per_s": round(len(ids[1:]) / seconds, 2), "signals": len(ids) - 1, "seconds": round(seconds, 2)}


def latency(url: str, count: int, rate: float) -> dict[str, Any]:
    db = Database(url)
    alarms = make_alarms(load_cameras(db), count, seed=21)
    port = _free_port()
    gateway = _start(["gateway", "--port", str(port)], url)
    loop = _start(["intake", "loop", "--idle", "0.1"], url)
    ids: list[int] = []
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", gateway)
        started = time.monotonic()
        with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            for i, alarm in enumerate(alarms):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                answer = http.post(
                    f"http://127.0.0.1:{port}{alarm.path}",
                    content=alarm.body,
                    headers={"Content-Type": alarm.content_type},
                )
                ids += [s["id"] for s in answer.json()["signals"]]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with db.read() as session:
                pending = session.scalar(
                    select(Signal.id).where(Signal.id.in_(ids), Signal.processed_at.is_(None)).limit(1)
                )
            if pending is None:
                break
            time.sleep(0.2)
        with db.read() as session:
            waits = [
                (done - got).total_seconds()
                for got, done in session.execute(
                    select(Signal.received_at, Signal.processed_at).where(Signal.id.in_(ids))
                ).all()
                if done is not None
            ]
    finally:
        _stop(gateway)
        _stop(loop)
        db.dispose()
    waits.sort()
    return {
        "p50_s": round(statistics.median(waits), 3),
        "p95_s": round(waits[int(len(waits) * 0.95) - 1], 3),
        "alarms": len(waits),
        "rate_per_s": rate,
    }


def run(
    backends: list[str] | None = None,
    signals: int = 100_000,
    gateway_alarms: int = 20_000,
    gateway_workers: int | None = None,
    naive_signals: int = 30,
) -> dict[str, Any]:
    backends = backends or ["sqlite", "postgresql"]
    results: dict[str, Any] = {}
    for backend in backends:
        if backend == "postgresql":
            reason = postgres_available()
            if reason:
                results[backend] = {"skipped": reason}
                continue
        entry: dict[str, Any] = {}
        with scratch_database(backend) as url:
            # SQLite serialises writers: one gateway process with group commit does best; PostgreSQL takes two
            workers = gateway_workers or (1 if backend == "sqlite" else 2)
            entry["gateway"] = gateway_rate(url, gateway_alarms, workers, connections=32)
        with scratch_database(backend) as url:
            entry["intake"] = intake_throughput(url, signals, batch=5000)
        with scratch_database(backend) as url:
            naive = naive_rate(url, naive_signals)
        entry["intake"]["naive_flow_per_signal_per_s"] = naive["per_signal_per_s"]
        entry["intake"]["naive"] = naive
        entry["intake"]["vs_naive"] = round(entry["intake"]["signals_per_s"] / naive["per_signal_per_s"], 1)
        with scratch_database(backend) as url:
            entry["latency"] = latency(url, 300, rate=20)
        results[backend] = entry
    return {
        "machine": machine_info(),
        "inputs": {
            "payloads": "simulated Hikvision ISAPI, Dahua eventManager, GB/T 28181 (GB2312), Frigate, generic JSON"
            " alarms from the demo's 271 cameras (integrations/simulate.py)",
            "gateway_alarms": gateway_alarms,
            "intake_signals": signals,
            "naive_signals": naive_signals,
            "latency_alarms": 300,
        },
        "results": results,
    }
