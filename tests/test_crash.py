"""A burst of 10,000 alarms while the gateway and the intake worker are killed with SIGKILL at random moments
and restarted: every acknowledged alarm is stored exactly once, and no case is created twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from integrations.simulate import load_cameras, make_alarms
from models.audit import verify_chains
from models.cases import Case, CaseEvent, Signal
from models.db import Database
from tests.browser import free_port

ALARMS = 10_000
SENDERS = 8


class Service:
    """A CLI process that can be SIGKILLed and started again on the same port."""

    def __init__(self, args: list[str], url: str, log: Path, health: str | None = None) -> None:
        self.args, self.url, self.log, self.health = args, url, log, health
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        env = {**os.environ, "XUELIANG_DATABASE_URL": self.url}
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "xueliang.cli", *self.args], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        if self.health:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(self.health, timeout=1).close()
                    return
                except OSError:
                    time.sleep(0.1)
            raise AssertionError(f"{self.args} did not come up: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.mark.slow
def test_burst_with_random_sigkills_loses_and_doubles_nothing(demo_url: str, tmp_path: Path) -> None:
    db = Database(demo_url)
    alarms = make_alarms(load_cameras(db), ALARMS, seed=3, repeat_share=0.6)
    port = free_port()
    gateway = Service(
        ["gateway", "--port", str(port)], demo_url, tmp_path / "gateway.log", f"http://127.0.0.1:{port}/healthz"
    )
    worker = Service(["intake", "loop", "--idle", "0.05"], demo_url, tmp_path / "worker.log")
    gateway.start()
    worker.start()

    acked: dict[int, list[int]] = {}  # alarm index -> signal ids answered 202
    lock = threading.Lock()
    cursor = iter(range(ALARMS))
    sending = threading.Event()
    sending.set()

    def sender() -> None:
        with httpx.Client(timeout=5, headers={"Authorization": "Bearer demo-token"}) as http:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                alarm = alarms[index]
                for _ in range(200):  # a camera retries until its alarm is acknowledged
                    try:
                        answer = http.post(
                            f"http://127.0.0.1:{port}{alarm.path}",
                            content=alarm.body,
                            headers={"Content-Type": alarm.content_type},
                        )
                    except httpx.HTTPError:
                        time.sleep(0.2)
                        continue
                    if answer.status_code == 202:
                        with lock:
                            acked[index] = [s["id"] for s in answer.json()["signals"]]
                        break
                    time.sleep(0.2)

    rng = random.Random(42)

    def killer() -> None:
        while sending.is_set():
            time.sleep(rng.uniform(0.8, 2.5))
            if not sending.is_set():
                return
            victims = rng.choice([[gateway], [worker], [gateway, worker]])
            for victim in victims:
                victim.kill()
            for victim in victims:
                victim.start()

    senders = [threading.Thread(target=sender) for _ in range(SENDERS)]
    chaos = threading.Thread(target=killer)
    try:
        for thread in senders:
            thread.start()
        chaos.start()
        for thread in senders:
            thread.join(timeout=600)
        sending.clear()
        chaos.join(timeout=120)
        # let the (restarted) worker finish what is pending
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.read() as s:
                if not s.scalar(select(func.count()).select_from(Signal).where(Signal.status == "new")):
                    break
            time.sleep(0.5)
    finally:
        gateway.stop()
        worker.stop()

    assert gateway.kills + worker.kills >= 3, "the test must actually kill something"
    assert len(acked) == ALARMS, f"{ALARMS - len(acked)} alarms were never acknowledged"
    with db.read() as s:
        signals = s.execute(select(Signal.id, Signal.raw, Signal.status, Signal.case_id)).all()
        by_id = {row.id: row for row in signals}
        # exactly once: every acknowledged alarm is one stored signal holding that alarm's body
        assert len(signals) == ALARMS
        for index, ids in acked.items():
            assert len(ids) == 1 and by_id[ids[0]].raw == alarms[index].body
        assert len({row.raw for row in signals}) == ALARMS
        # everything processed, and no case twice: each case opened by exactly one signal
        assert {row.status for row in signals} <= {"cased", "attached", "suppressed"}
        opened = [row.case_id for row in signals if row.status == "cased"]
        assert len(opened) == len(set(opened))
        cases = s.scalar(select(func.count()).select_from(Case))
        assert cases == len(opened)
        creates = s.execute(select(CaseEvent.data).where(CaseEvent.action == "create")).scalars().all()
        assert len({c["signal"] for c in creates}) == cases
        assert verify_chains(s).ok
    db.dispose()
