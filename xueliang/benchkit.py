"""What every benchmark shares: a description of the machine, and scratch databases (migrated and seeded)."""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        memory_gib = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def postgres_url() -> str:
    return os.environ.get("XUELIANG_BENCH_POSTGRES_URL") or os.environ.get("XUELIANG_TEST_POSTGRES_URL") or DEFAULT_PG


def postgres_available() -> str | None:
    """None when the benchmark PostgreSQL answers, else why not."""
    try:
        engine = create_engine(postgres_url())
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure to connect is a reason to skip that backend, stated in the output
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


@contextmanager
def scratch_database(backend: str, seed: bool = True, sealer: Any = None) -> Iterator[str]:
    """A fresh migrated (and demo-seeded) database, dropped afterwards; yields its URL. `sealer` seals the demo's
    phone numbers (a benchmark that sends SMS passes the vault it will open them with)."""
    from integrations.secrets import PhoneVault, hash_password
    from migrations.runner import upgrade
    from models.db import Database
    from models.seed import seed_demo

    folder = tempfile.mkdtemp(prefix="xueliang-bench-")
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{folder}/bench.sqlite3"
    else:
        base = postgres_url()
        name = f"xl_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        if seed:
            db = Database(url)
            with db.write() as session:
                seed_demo(
                    session,
                    sealer=sealer or PhoneVault("bench-secret"),
                    hash_password=hash_password,
                    demo_token="demo-token",
                )
            db.dispose()
        yield url
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)
