"""Import every mapped module, so that Base.metadata knows all tables (Alembic, tests)."""

from models import calendar, cases, closed_rollup, org, patrol, rollups, taxonomy  # noqa: F401
from models.db import Base

__all__ = ["Base"]
