"""`xueliang bench stats`: the leadership statistics on a year of cases.

A scratch database per backend (xueliang.benchkit) is migrated, seeded with the demo city and filled with
`cases` cases created over the past 365 days, the way a busy city's year looks: cases at every village, across
the categories and responsible units, most of the older ones closed (some late, some reworked), a few rejected,
merged or parked, the recent ones still in review or rectification, some of them overdue. Rows go in through the
driver's bulk path (executemany on SQLite, COPY on PostgreSQL), the closed-case rollup is rebuilt from them (a
bulk load bypasses the ORM hook that keeps it in step), and the tables are analysed.

Measured, as the city leader sees them (the whole city in scope): each query the dashboard runs, for "this
month" and for "this year" (the median of `runs` runs, in ms), the open-case map, and the year's figures of a
township and a village reviewer; and the dashboard's first render: ui/app.py run by Streamlit's AppTest,
signed in as `leader`, whose first page is the dashboard, in a fresh session with the page's figure cache
emptied (median of three, after one warm-up run that pays the process's one-time imports; that cold run is
reported too).
"""

from __future__ import annotations

import os
import random
import statistics as stats_lib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from models.cases import State
from models.closed_rollup import rebuild
from models.db import Database, utcnow
from models.org import AdminUnit, Level, ResponsibleUnit, User
from models.stats import local_today, open_case_points, period_range, statistics, trend
from models.taxonomy import Category
from xueliang.benchkit import machine_info, postgres_available, scratch_database

COLUMNS = (
    "id",
    "number",
    "version",
    "source",
    "category_id",
    "description",
    "lat",
    "lon",
    "unit_id",
    "unit_path",
    "tier",
    "state",
    "responsible_unit_id",
    "registered_at",
    "review_due",
    "ack_due",
    "rectify_due",
    "supervised",
    "overdue",
    "rework_count",
    "reporter_count",
    "dispatched_at",
    "closed_at",
    "closed_on_time",
    "created_at",
    "updated_at",
    "created_by",
)
# state shares by the case's age: still fresh (< 1 day), recent (< 10 days), older
STATE_MIX = (
    (1.0, {"reviewing": 40, "dispatched": 30, "acknowledged": 15, "rectified": 5, "closed": 8, "rejected": 2}),
    (
        10.0,
        {
            "reviewing": 3,
            "dispatched": 8,
            "acknowledged": 15,
            "rectified": 7,
            "parked": 1,
            "closed": 62,
            "rejected": 3,
            "merged": 1,
        },
    ),
    (
        366.0,
        {"dispatched": 0.5, "acknowledged": 1, "rectified": 0.5, "parked": 1, "closed": 91, "rejected": 4, "merged": 2},
    ),
)
SOURCES = (("camera", 45), ("citizen", 20), ("hotline", 15), ("patrol", 20))
TIERS = (("village", 25), ("township", 65), ("city", 10))


def _pick(rng: random.Random, weighted: Any) -> Any:
    items = list(weighted.items()) if isinstance(weighted, dict) else list(weighted)
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


def _world(db: Database) -> dict[str, Any]:
    """The demo's villages (with their township), categories and responsible units."""
    with db.read() as session:
        units = session.execute(select(AdminUnit)).scalars().all()
        by_id = {u.id: u for u in units}
        villages = [u for u in units if u.level == Level.VILLAGE.value]
        responsible = session.execute(select(ResponsibleUnit)).scalars().all()
        by_area: dict[int, list[int]] = {}
        for unit in responsible:
            by_area.setdefault(unit.area_id, []).append(unit.id)
        departments = [u.id for u in responsible if u.kind == "department"]
        places = []
        for village in villages:
            township = by_id[village.parent_id] if village.parent_id else village
            places.append(
                {
                    "id": village.id,
                    "path": village.path,
                    "lat": village.lat or township.lat or 35.1,
                    "lon": village.lon or township.lon or 118.35,
                    "committee": by_area.get(village.id, []),
                    "government": by_area.get(township.id, []),
                }
            )
        categories = list(session.execute(select(Category.id)).scalars())
    return {"places": places, "categories": categories, "departments": departments}


def case_rows(count: int, now: datetime, world: dict[str, Any], seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """`count` case rows (tuples in COLUMNS order, naive UTC datetimes: aware arithmetic would be most of the
    time taken) created over the year before `now`, oldest first, numbered LY-<Shanghai day>-NNNNN."""
    rng = random.Random(seed)
    now = now.astimezone(UTC).replace(tzinfo=None)
    shanghai = timedelta(hours=8)
    ages = sorted((rng.random() * 365.0 for _ in range(count)), reverse=True)
    rectify_days = {cid: rng.randint(2, 7) for cid in world["categories"]}
    per_day: dict[str, int] = {}
    for index, age in enumerate(ages, start=1):
        created = now - timedelta(days=age)
        day = (created + shanghai).strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        place = rng.choice(world["places"])
        category = rng.choice(world["categories"])
        state = _pick(rng, next(mix for limit, mix in STATE_MIX if age < limit))
        reviewing = state == State.REVIEWING.value
        review_due = created + timedelta(hours=1)
        registered = None if reviewing else created + timedelta(minutes=rng.randint(5, 90))
        dispatched = None if reviewing or state in ("rejected", "merged") else created + timedelta(hours=2)
        ack_due = dispatched + timedelta(hours=1) if dispatched else None
        rectify_due = created + timedelta(days=rectify_days[category]) if dispatched else None
        closed_at = None
        on_time = None
        if state == State.CLOSED.value:
            closed_at = min(created + timedelta(hours=rng.lognormvariate(3.9, 0.7)), now)
            on_time = rectify_due is None or closed_at <= rectify_due
        late = (state == "reviewing" and review_due < now) or (
            state in ("dispatched", "acknowledged") and rectify_due is not None and rectify_due < now
        )
        pool = (
            place["government"]
            if rng.random() < 0.6
            else (place["committee"] if rng.random() < 0.75 else world["departments"])
        ) or world["departments"]
        rework = 0 if rng.random() < 0.92 else (1 if rng.random() < 0.85 else 2)
        yield (
            index,
            f"LY-{day}-{per_day[day]:05d}",
            3 + 2 * rework + (3 if closed_at else 0),
            _pick(rng, SOURCES),
            category,
            "压测案卷",
            place["lat"] + rng.uniform(-0.01, 0.01),
            place["lon"] + rng.uniform(-0.01, 0.01),
            place["id"],
            place["path"],
            "village" if reviewing else _pick(rng, TIERS),
            state,
            rng.choice(pool) if dispatched else None,
            registered,
            review_due,
            ack_due,
            rectify_due,
            late and rng.random() < 0.5,
            late and state != "reviewing",
            rework,
            1,
            dispatched,
            closed_at,
            on_time,
            created,
            closed_at or created + timedelta(hours=2),
            "inspector",
        )


def _sqlite_value(value: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME text format (naive UTC), so that bound-parameter comparisons line up
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


@contextmanager
def _driver(db: Database) -> Iterator[Any]:
    """The DB-API connection under one pooled connection, for the driver's bulk paths."""
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        yield raw


def _load_sqlite(db: Database, rows: Iterator[tuple[Any, ...]]) -> None:
    sql = f"INSERT INTO case_file ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    with _driver(db) as raw:
        raw.execute("PRAGMA synchronous=OFF")  # a scratch file: losing it to a power cut costs nothing
        cursor = raw.cursor()
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(tuple(_sqlite_value(v) for v in row))
            if len(batch) == 50_000:
                cursor.executemany(sql, batch)
                batch.clear()
        cursor.executemany(sql, batch)
        raw.commit()


def _load_postgresql(db: Database, rows: Iterator[tuple[Any, ...]], count: int) -> None:
    with _driver(db) as raw, raw.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")  # the rows' datetimes are naive UTC
        with cursor.copy(f"COPY case_file ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute("SELECT setval(pg_get_serial_sequence('case_file', 'id'), %s)", (count,))
        raw.commit()


def seed_cases(url: str, count: int, now: datetime) -> float:
    """Insert `count` cases, then rebuild the closed-case rollup (a bulk load bypasses the ORM hook that keeps
    it) and analyse; returns the seconds it took."""
    started = time.perf_counter()
    db = Database(url)
    try:
        rows = case_rows(count, now, _world(db))
        sqlite = db.engine.dialect.name == "sqlite"
        if sqlite:
            _load_sqlite(db, rows)
        else:
            _load_postgresql(db, rows, count)
        with db.engine.begin() as conn:
            rebuild(conn)
        with _driver(db) as raw:
            if sqlite:
                raw.execute("ANALYZE")
                raw.commit()
            else:
                raw.autocommit = True  # VACUUM refuses to run inside a transaction
                with raw.cursor() as cursor:
                    cursor.execute("VACUUM ANALYZE case_file")
                    cursor.execute("VACUUM ANALYZE closed_rollup")
                raw.autocommit = False
    finally:
        db.dispose()
    return time.perf_counter() - started


def _median_ms(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(stats_lib.median(times), 1)


def measure_queries(url: str, now: datetime, runs: int = 5) -> dict[str, float]:
    """Median milliseconds of each dashboard query, as the city leader runs them."""
    db = Database(url)
    try:
        with db.read() as session:
            leader = session.execute(select(User).where(User.username == "leader")).scalar_one()
            city = leader.admin_unit.path if leader.admin_unit else None
            scoped = {}
            for name in ("reviewer_township", "reviewer_village"):
                user = session.execute(select(User).where(User.username == name)).scalar_one()
                scoped[name] = user.admin_unit.path if user.admin_unit else None
        today = local_today(now)
        result: dict[str, float] = {}

        def timed(name: str, query: Callable[[Any], Any]) -> None:
            def once() -> None:
                with db.read() as session:
                    query(session)

            result[name] = _median_ms(once, runs)

        for period, grain in (("month", "day"), ("year", "month")):
            start, end = period_range(period, today)
            window = {"date_from": start, "date_to": end, "as_of": now, "unit_path": city}
            timed(f"{period}.headline", lambda s, w=window: statistics(s, **w))
            timed(f"{period}.by_township", lambda s, w=window: statistics(s, by="township", **w))
            timed(f"{period}.by_category", lambda s, w=window: statistics(s, by="category", **w))
            timed(f"{period}.by_unit", lambda s, w=window: statistics(s, by="unit", **w))
            timed(f"{period}.trend_{grain}", lambda s, w=window, g=grain: trend(s, g, **w))
        year_start, year_end = period_range("year", today)
        for name, path in scoped.items():
            window = {"date_from": year_start, "date_to": year_end, "as_of": now, "unit_path": path}
            timed(f"year.{name}.headline", lambda s, w=window: statistics(s, **w))
            timed(f"year.{name}.by_village", lambda s, w=window: statistics(s, by="village", **w))
            timed(f"year.{name}.by_category", lambda s, w=window: statistics(s, by="category", **w))
            timed(f"year.{name}.by_unit", lambda s, w=window: statistics(s, by="unit", **w))
        timed("open_case_map", lambda s: open_case_points(s, unit_path=city, as_of=now))
        return result
    finally:
        db.dispose()


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dashboard_render(url: str, fresh_runs: int = 3) -> dict[str, float]:
    """Seconds for ui/app.py to render the leader's first page (the dashboard) in a new session."""
    from ui.render_probe import render_seconds

    def render() -> float:
        return render_seconds("leader")

    with _environment(XUELIANG_DATABASE_URL=url):
        cold = render()
        warm = [render() for _ in range(fresh_runs)]
    return {"first_render_s": round(stats_lib.median(warm), 3), "cold_process_s": round(cold, 3)}


def run(backends: list[str] | None = None, cases: int = 1_000_000, runs: int = 5) -> dict[str, Any]:
    backends = backends or ["sqlite", "postgresql"]
    now = utcnow()
    results: dict[str, Any] = {}
    for backend in backends:
        if backend == "postgresql":
            reason = postgres_available()
            if reason:
                results[backend] = {"skipped": reason}
                continue
        with scratch_database(backend) as url:
            seconds = seed_cases(url, cases, now)
            db = Database(url)
            with db.read() as session:
                stored = session.execute(text("SELECT count(*) FROM case_file")).scalar_one()
            db.dispose()
            queries = measure_queries(url, now, runs)
            render = dashboard_render(url)
        results[backend] = {
            "cases": int(stored),
            "seed_s": round(seconds, 1),
            "query_ms": queries,
            "query_ms_max": max(queries.values()),
            "dashboard_first_render_s": render["first_render_s"],
            "dashboard_cold_process_s": render["cold_process_s"],
        }
    return {
        "machine": machine_info(),
        "inputs": {
            "cases": cases,
            "spread": "created uniformly over the 365 days before the run; ~88% closed (lognormal handling time,"
            " median ~49 h, so some late), ~8% reworked, ~4% rejected, ~2% merged, the rest open by age",
            "places": "the demo's 136 villages in 33 townships; categories and responsible units of the demo",
            "query_runs": runs,
            "scope": "city leader (whole city); year.reviewer_township.* limited to 兰山街道, year.reviewer_village.*"
            " to 兰山第一社区 (their category and unit breakdowns are counted from case_file, not the rollup)",
            "render": "AppTest of ui/app.py signed in as leader (first page: dashboard), median of 3 new sessions",
        },
        "results": results,
    }
