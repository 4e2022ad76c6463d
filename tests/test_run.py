"""`xueliang run` (what `make run` calls) brings the whole embedded stack up for real: migrated and seeded
SQLite, a local Prefect server, the worker serving the SLA sweep, the gateway and the console; and stops it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser import free_port


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read() or b"null")


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what} ({last})")


@pytest.mark.slow
def test_run_starts_everything_prints_urls_and_stops(tmp_path: Path) -> None:
    ports = {
        "XUELIANG_PREFECT_PORT": free_port(),
        "XUELIANG_GATEWAY_PORT": free_port(),
        "XUELIANG_UI_PORT": free_port(),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "XUELIANG_DATABASE"))}
    env.update({k: str(v) for k, v in ports.items()})
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "xueliang.cli", "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    prefect = f"http://127.0.0.1:{ports['XUELIANG_PREFECT_PORT']}/api"
    try:
        banner = wait_for(lambda: "Ctrl-C" in (tmp_path / "run.log").read_text(), 240, "the URL banner")
        assert banner
        text = (tmp_path / "run.log").read_text()
        for port in ports.values():
            assert f"http://127.0.0.1:{port}" in text
        assert (tmp_path / "var" / "xueliang.sqlite3").exists()
        assert get(f"http://127.0.0.1:{ports['XUELIANG_GATEWAY_PORT']}/healthz") == {"status": "ok"}
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['XUELIANG_UI_PORT']}/_stcore/health", timeout=5) as r:
            assert r.status == 200
        expected = {"sla-sweep", "dispatch", "route", "evidence", "verify", "daily-stats", "intake-catch-up"}

        def all_deployments() -> list[dict[str, Any]]:
            found = post(f"{prefect}/deployments/filter", {})
            return found if expected <= {d["name"] for d in found} else []

        deployments = wait_for(all_deployments, 90, "every deployment the worker serves")
        completed = wait_for(
            lambda: post(
                f"{prefect}/flow_runs/filter",
                {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}},
            ),
            150,
            "a completed scheduled sla_sweep run",
        )
        assert completed[0]["deployment_id"] in {d["id"] for d in deployments}

        # a case transition is a Prefect event, and the event triggers the dispatch deployment for that case
        cli = [sys.executable, "-m", "xueliang.cli"]
        created = subprocess.run(
            [
                *cli,
                "case",
                "new",
                "--category",
                "E0201",
                "--lat",
                "35.06",
                "--lon",
                "118.34",
                "--description",
                "小广告",
                "--as",
                "inspector",
                "--json",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        number = json.loads(created.stdout)["number"]
        subprocess.run(
            [*cli, "case", "act", number, "dispatch", "--as", "reviewer_city"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            check=True,
        )
        dispatch_id = next(d["id"] for d in deployments if d["name"] == "dispatch")

        def triggered_run() -> list[dict[str, Any]]:
            runs = post(
                f"{prefect}/flow_runs/filter",
                {
                    "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
                    "deployments": {"id": {"any_": [dispatch_id]}},
                },
            )
            return [r for r in runs if r["parameters"].get("number") == f"xueliang.case.{number}"]

        assert wait_for(triggered_run, 120, "the event-triggered dispatch run")
        shown = subprocess.run(
            [*cli, "case", "show", number, "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(shown.stdout)["state"] == "dispatched"
        from sqlalchemy import select

        from models.cases import Case, Notice
        from models.db import Database

        db = Database(f"sqlite:///{tmp_path / 'var' / 'xueliang.sqlite3'}")
        with db.read() as session:
            mine = select(Notice.status).join(Case, Case.id == Notice.case_id).where(Case.number == number)
            assert session.execute(mine).scalars().all() == ["stored"]
        db.dispose()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{ports['XUELIANG_GATEWAY_PORT']}/healthz", timeout=2)
