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


def test_upgrade_keeps_existing_rows(db_url: str) -> None:
    """A database holding data at the first revision upgrades to head (new NOT NULL columns have defaults)."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    downgrade(db_url, "base")
    upgrade(db_url, "0001")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO routing_rule (key, version, active, start_tier, review_hours_village,"
                " review_hours_township, review_hours_city, ack_hours, rectify_hours, created_at, created_by)"
                " VALUES ('default', 1, true, 'village', 1, 1, 1, 1, 72, :now, 'test')"
            ),
            {"now": datetime(2026, 1, 1, tzinfo=UTC)},
        )
    upgrade(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT calendar FROM routing_rule")).scalar_one() == "24x7"
    engine.dispose()
