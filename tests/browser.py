"""What the browser and server tests share: a free port, and Debian's Chromium driven by Playwright (this machine
cannot download Playwright's own browser)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_chromium(playwright: Any) -> Any:
    """A headless Debian Chromium; fails (not skips) when it is missing, since `make test` installs it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does, as root)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
