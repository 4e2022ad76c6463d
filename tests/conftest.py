"""Shared fixtures: a fresh, migrated database per test on SQLite, and on PostgreSQL too when
XUELIANG_TEST_POSTGRES_URL is set (CI sets it)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from models.db import Database

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
PG_URL = os.environ.get("XUELIANG_TEST_POSTGRES_URL")

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


TEST_SECRET = "test-secret-key-not-for-production"
os.environ.setdefault("XUELIANG_SECRET_KEY", TEST_SECRET)


def prepare(url: str, kind: str) -> None:
    """Migrate, and for kind "demo" also seed the demo city."""
    from migrations.runner import upgrade

    upgrade(url)
    if kind == "demo":
        from integrations.secrets import PhoneVault
        from models.seed import seed_demo

        database = Database(url)
        with database.write() as session:
            seed_demo(session, sealer=PhoneVault(TEST_SECRET), hash_password=fast_hash, demo_token="demo-token")
        database.dispose()


def fast_hash(password: str) -> str:
    """Argon2 with small costs: the same scheme as production, quick enough for fixtures."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


class Templates:
    """Migrated (and optionally seeded) template databases, built once per session and copied per test."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sqlite: dict[str, Path] = {}
        self.pg: dict[str, str] = {}

    def sqlite_url(self, kind: str, dest: Path) -> str:
        if kind not in self.sqlite:
            path = self.tmp / f"template-{kind}.sqlite3"
            prepare(f"sqlite:///{path}", kind)
            self.sqlite[kind] = path
        shutil.copy(self.sqlite[kind], dest)
        return f"sqlite:///{dest}"

    def pg_url(self, kind: str) -> str:
        assert PG_URL
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            if kind not in self.pg:
                name = f"xl_tmpl_{kind}_{uuid.uuid4().hex[:8]}"
                with admin.connect() as conn:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
                prepare(make_url(PG_URL).set(database=name).render_as_string(hide_password=False), kind)
                self.pg[kind] = name
            copy = f"xl_t_{uuid.uuid4().hex[:12]}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{copy}" TEMPLATE "{self.pg[kind]}"'))
        finally:
            admin.dispose()
        return make_url(PG_URL).set(database=copy).render_as_string(hide_password=False)

    def drop_pg(self, url: str) -> None:
        assert PG_URL
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()

    def close(self) -> None:
        for name in self.pg.values():
            self.drop_pg(make_url(PG_URL or "").set(database=name).render_as_string(hide_password=False))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    registry = Templates(tmp_path_factory.mktemp("templates"))
    yield registry
    registry.close()


def _fresh(backend: str, kind: str, templates: Templates, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield templates.sqlite_url(kind, tmp_path / f"{kind}.sqlite3")
        return
    url = templates.pg_url(kind)
    yield url
    templates.drop_pg(url)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated, empty database, on each backend."""
    yield from _fresh(request.param, "empty", templates, tmp_path)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture(params=BACKENDS)
def demo_url(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh database holding the seeded demo city, on each backend."""
    yield from _fresh(request.param, "demo", templates, tmp_path)


@pytest.fixture
def demo(demo_url: str) -> Iterator[Database]:
    database = Database(demo_url)
    yield database
    database.dispose()


def needs_fixtures(*parts: str) -> Path:
    """The path of a shared fixture, or a skip with the reason when ../shared is absent (a fresh clone)."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared fixture {path} is absent (a fresh clone without ../shared); CI provides it")
    return path
