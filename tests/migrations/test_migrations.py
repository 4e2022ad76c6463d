"""Migrations upgrade from empty and downgrade to empty, and the models do not drift from them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import models.all  # noqa: F401
from migrations.runner import downgrade, upgrade
from models.db import Base, make_engine


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_no_drift_between_models_and_migrations(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_downgrade_to_empty_and_up_again(db_url: str) -> None:
    assert table_names(db_url) == set(Base.metadata.tables)
    downgrade(db_url, "base")
    assert table_names(db_url) == set()
    upgrade(db_url)
    assert table_names(db_url) == set(Base.metadata.tables)
