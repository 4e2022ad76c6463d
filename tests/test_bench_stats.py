"""`xueliang bench stats` on a few thousand cases: the seeded year looks like a year of work, the rollup agrees
with the cases, and the JSON has the promised shape (timings are not asserted)."""

from __future__ import annotations

import json

import pytest

from models.db import Database, utcnow
from models.stats import scan_statistics, statistics
from tests.conftest import PG_URL
from xueliang import bench_stats
from xueliang.benchkit import scratch_database
from xueliang.cli import main


def test_seeded_cases_look_like_a_year_and_the_rollup_agrees() -> None:
    now = utcnow()
    with scratch_database("sqlite") as url:
        bench_stats.seed_cases(url, 3000, now)
        db = Database(url)
        with db.read() as s:
            figures = statistics(s, as_of=now, by="township")
            assert figures == scan_statistics(s, as_of=now, by="township")
            months = statistics(s, as_of=now, by="month")
            assert months == scan_statistics(s, as_of=now, by="month")
        db.dispose()
    counts = figures["counts"]
    assert 2700 < counts["total"] < 3000  # rejected and merged ones are not counted
    assert 0.8 < counts["closed"] / counts["total"] < 0.97 and figures["overdue"] > 0 and figures["rework"] > 0
    assert 0 < figures["on_time_closure_rate"] < figures["closure_rate"] < 1
    assert len(figures["by"]) == 33 and len(months["by"]) in (12, 13)


@pytest.mark.slow
def test_bench_stats_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    backends = ["postgresql", "sqlite"] if PG_URL else ["sqlite"]
    args = ["bench", "stats", "--json", "--cases", "2000"]
    if not PG_URL:
        args += ["--database", "sqlite"]
    main(args)
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"machine", "inputs", "results"}
    assert result["machine"]["cores"] and result["inputs"]["cases"] == 2000
    assert sorted(result["results"]) == backends
    for figures in result["results"].values():
        assert figures["cases"] == 2000
        assert figures["dashboard_first_render_s"] > 0
        names = set(figures["query_ms"])
        for period in ("month", "year"):
            assert {
                f"{period}.headline",
                f"{period}.by_township",
                f"{period}.by_category",
                f"{period}.by_unit",
            } <= names
        assert {"open_case_map", "year.reviewer_village.headline", "month.trend_day", "year.trend_month"} <= names
        assert all(isinstance(ms, float) and ms > 0 for ms in figures["query_ms"].values())
