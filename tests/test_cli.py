"""The operator's command line, end to end in subprocesses, on each database (CONTRACT.md verbs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text

from models.db import Database

CLI = [sys.executable, "-m", "xueliang.cli"]


def run(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XUELIANG_DATABASE_URL": url}
    proc = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"xueliang {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def run_json(url: str, *args: str) -> Any:
    return json.loads(run(url, *args, "--json").stdout)


def act(url: str, number: str, action: str, user: str, *extra: str) -> dict[str, Any]:
    return run_json(url, "case", "act", number, action, "--as", user, *extra)


def new_case(url: str, user: str, description: str, category: str = "E0201") -> dict[str, Any]:
    """A patrol case by `user`, placed at the centre of reviewer_village's community (兰山街道)."""
    village_unit = next(u for u in run_json(url, "users") if u["username"] == "reviewer_village")["unit"]
    village = next(u for u in run_json(url, "units") if u["code"] == village_unit)
    return run_json(
        url,
        "case",
        "new",
        "--category",
        category,
        "--lat",
        str(village["lat"]),
        "--lon",
        str(village["lon"]),
        "--description",
        description,
        "--as",
        user,
    )


def test_reference_data_shapes(demo_url: str) -> None:
    units = run_json(demo_url, "units")
    assert {"code", "name", "level", "parent"} <= set(units[0])
    assert {u["level"] for u in units} >= {"city", "district", "township", "village"}
    categories = run_json(demo_url, "categories")
    assert {c["kind"] for c in categories} == {"component", "event"}
    users = run_json(demo_url, "users")
    assert {u["role"] for u in users} == {"inspector", "reviewer", "dispatcher", "leader", "admin"}
    assert all("password" not in json.dumps(u) for u in users)
    cameras = run_json(demo_url, "cameras")
    assert len(cameras) >= 200
    assert {"id", "external_id", "name", "vendor", "kind", "unit", "lat", "lon"} <= set(cameras[0])


def test_patrol_case_through_rework_to_closure(demo_url: str) -> None:
    users = {u["username"]: u for u in run_json(demo_url, "users")}
    category = next(c["code"] for c in run_json(demo_url, "categories") if "小广告" in c["name"])
    case = new_case(demo_url, "inspector", "墙面小广告", category)
    number = case["number"]
    assert (case["state"], case["tier"], case["version"]) == ("reviewing", "city", 1)
    unit = users["dispatcher"]["unit"]
    steps = [
        ("dispatch", "reviewer_city", ["--unit", unit, "--note", "请限期清理"], "dispatched"),
        ("acknowledge", "dispatcher", [], "acknowledged"),
        ("report_fixed", "dispatcher", ["--note", "已清理"], "rectified"),
        ("verify_fail", "inspector", ["--note", "仍有残留"], "dispatched"),
        ("report_fixed", "dispatcher", ["--note", "已彻底清理"], "rectified"),
        ("verify_pass", "inspector", ["--note", "核查通过"], "closed"),
    ]
    for action, user, extra, state in steps:
        assert act(demo_url, number, action, user, *extra)["state"] == state
    shown = run_json(demo_url, "case", "show", number)
    assert shown["responsible_unit"] == unit and shown["rework_count"] == 1
    assert [(h["action"], h["actor"]) for h in shown["history"]] == [("create", "inspector")] + [
        (a, u) for a, u, _, _ in steps
    ]
    assert all(h["at"] for h in shown["history"])
    assert shown["history"][3]["note"] == "已清理"
    assert shown["evidence"] == []
    listed = run_json(demo_url, "case", "list", "--status", "closed")
    assert [c["number"] for c in listed] == [number]
    assert "history" not in listed[0]
    stats = run_json(demo_url, "stats")
    assert stats["closure_rate"] == 1.0 and stats["rework"] == 1 and stats["counts"]["closed"] == 1


def test_village_case_escalated_twice_then_rejected(demo_url: str) -> None:
    case = new_case(demo_url, "inspector_village", "网格员巡查发现违规张贴")
    assert case["tier"] == "village"
    number = case["number"]
    assert act(demo_url, number, "escalate", "reviewer_village", "--note", "村里无法处理")["tier"] == "township"
    assert act(demo_url, number, "escalate", "reviewer_township", "--note", "需市级协调")["tier"] == "city"
    refused = run(demo_url, "case", "act", number, "reject", "--as", "reviewer_city", check=False)
    assert refused.returncode == 2 and "--note" in refused.stderr
    done = act(demo_url, number, "reject", "reviewer_city", "--note", "不属于城市管理范围")
    assert (done["state"], done["tier"]) == ("rejected", "city")
    assert [h["action"] for h in done["history"]] == ["create", "escalate", "escalate", "reject"]
    assert done["history"][-1]["note"] == "不属于城市管理范围"


def test_illegal_actions_explain_and_change_nothing(demo_url: str) -> None:
    number = new_case(demo_url, "inspector_village", "小广告")["number"]
    act(demo_url, number, "escalate", "reviewer_village")
    before = run_json(demo_url, "case", "show", number)
    refused = run(demo_url, "case", "act", number, "register", "--as", "reviewer_village", check=False)
    assert refused.returncode == 4
    assert "township tier" in refused.stderr and refused.stderr.count("\n") == 1
    act(demo_url, number, "reject", "reviewer_township", "--note", "误报")
    refused = run(demo_url, "case", "act", number, "dispatch", "--as", "reviewer_township", check=False)
    assert refused.returncode == 4 and "rejected" in refused.stderr
    after = run_json(demo_url, "case", "show", number)
    assert after["version"] == before["version"] + 1 and after["state"] == "rejected"
    missing = run(demo_url, "case", "show", "LY-19990101-0001", check=False)
    assert missing.returncode == 3 and "no case" in missing.stderr


def test_audit_verify_passes_then_names_the_tampered_case(demo_url: str) -> None:
    number = new_case(demo_url, "inspector", "小广告")["number"]
    act(demo_url, number, "dispatch", "reviewer_city", "--note", "派遣")
    assert run_json(demo_url, "audit", "verify")["ok"] is True
    db = Database(demo_url)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE case_event SET actor = 'someone_else' WHERE seq = 2 AND case_id = "
                "(SELECT id FROM case_file WHERE number = :n)"
            ),
            {"n": number},
        )
    db.dispose()
    failed = run(demo_url, "audit", "verify", check=False)
    assert failed.returncode != 0
    assert number in failed.stderr and "row 2" in failed.stderr


def test_two_processes_on_one_version_exactly_one_wins(demo_url: str) -> None:
    case = new_case(demo_url, "inspector_village", "小广告")
    env = {**os.environ, "XUELIANG_DATABASE_URL": demo_url}
    version = str(case["version"])
    procs = [
        subprocess.Popen(
            [*CLI, "case", "act", case["number"], action, "--as", "reviewer_village", "--version", version, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for action, extra in (("escalate", []), ("reject", ["--note", "误报"]))
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 5], results
    loser = next(err for code, err in results if code == 5)
    assert "changed since version" in loser and "reviewer_village" in loser
    shown = run_json(demo_url, "case", "show", case["number"])
    assert shown["version"] == case["version"] + 1 and len(shown["history"]) == 2


@pytest.mark.parametrize("args", [["case", "act", "X", "dispatch"], ["stats", "--by", "planet"]])
def test_usage_errors_exit_nonzero(args: list[str], tmp_path) -> None:
    proc = run(f"sqlite:///{tmp_path}/x.sqlite3", *args, check=False)
    assert proc.returncode == 2 and proc.stderr
