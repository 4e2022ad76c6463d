"""Process launcher for `xueliang run` (the embedded default) and `xueliang ui`.

Starts the local Prefect server (SQLite under var/prefect), the gateway, the worker and the Streamlit console
as child processes, prints their URLs, and stops them all when interrupted or when one of them dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from models.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PREFECT_PORT = int(os.environ.get("XUELIANG_PREFECT_PORT", "4200"))
GATEWAY_PORT = int(os.environ.get("XUELIANG_GATEWAY_PORT", "8000"))
UI_PORT = int(os.environ.get("XUELIANG_UI_PORT", "8501"))


def _xueliang(*args: str) -> list[str]:
    return [sys.executable, "-m", "xueliang.cli", *args]


def ui_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "ui" / "app.py"),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def run_ui(host: str = "127.0.0.1", port: int = 8501) -> int:
    return subprocess.call(ui_command(host, port), cwd=os.getcwd())


def prefect_env(var: Path) -> dict[str, str]:
    home = var / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(PREFECT_PORT),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",
    }


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def run_all(settings: Settings) -> int:
    var = Path.cwd() / "var"
    var.mkdir(exist_ok=True)
    logs = var / "log"
    logs.mkdir(exist_ok=True)
    subprocess.check_call(_xueliang("db", "upgrade"))
    subprocess.check_call(_xueliang("seed", "demo", "--cases"))
    env = {**os.environ, **prefect_env(var)}
    children: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        log = open(logs / f"{name}.log", "ab")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        children[name] = proc
        return proc

    def stop_all(*_: object) -> None:
        for proc in children.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in children.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        prefect = start("prefect", [str(Path(sys.executable).parent / "prefect"), "server", "start"])
        wait_http(f"http://127.0.0.1:{PREFECT_PORT}/api/health", 120, prefect)
        gateway = start("gateway", _xueliang("gateway", "--port", str(GATEWAY_PORT)))
        wait_http(f"http://127.0.0.1:{GATEWAY_PORT}/healthz", 60, gateway)
        start("worker", _xueliang("worker"))
        ui = start("ui", ui_command("127.0.0.1", UI_PORT))
        wait_http(f"http://127.0.0.1:{UI_PORT}/_stcore/health", 60, ui)
        print(
            "\n雪亮 Xueliang is up / 已启动:\n"
            f"  console 控制台      http://127.0.0.1:{UI_PORT}\n"
            f"  gateway 接入网关    http://127.0.0.1:{GATEWAY_PORT}  (health: /healthz)\n"
            f"  Prefect UI          http://127.0.0.1:{PREFECT_PORT}\n"
            f"  database 数据库     {settings.database_url}\n"
            f"  logs 日志           {logs}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            for name, proc in children.items():
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {logs / (name + '.log')}", file=sys.stderr)
                    stop_all()
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        stop_all()
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}; logs in {logs}", file=sys.stderr)
        stop_all()
        return 1
