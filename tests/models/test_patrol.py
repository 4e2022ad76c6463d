"""Video patrol: plans inside the inspector's scope, patrols with idempotent views, findings that raise registered
patrol cases with their box, and the coverage and findings counters per patrol and per township."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models.cases import Case, CaseEvent
from models.commands import get_user
from models.db import Database
from models.errors import Forbidden, IllegalAction, NotFound, ValidationError
from models.evidence import add_evidence
from models.org import AdminUnit, Camera
from models.patrol import (
    Box,
    PatrolView,
    area_plan,
    create_plan,
    finish_patrol,
    latest_picture,
    patrol_areas,
    patrol_counts,
    plan_cameras,
    raise_finding,
    record_view,
    start_patrol,
    township_counts,
    unfinished_patrol,
    visible_plans,
)

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
TOWNSHIP = "371302001000"  # 兰山街道: 9 cameras in 5 communities
VILLAGE = "371302001001"  # 兰山第一社区, inspector_village's unit: 1 camera


def township_cameras(db: Database, code: str = TOWNSHIP) -> list[int]:
    with db.read() as s:
        town = s.execute(select(AdminUnit).where(AdminUnit.code == code)).scalar_one()
        return [
            c.id
            for c in s.execute(select(Camera).join(AdminUnit).where(AdminUnit.path.startswith(town.path))).scalars()
        ]


def started(db: Database, username: str = "inspector", code: str = TOWNSHIP) -> tuple[int, list[int]]:
    """A patrol over an area plan: its id and the plan's cameras in patrol order."""
    with db.write() as s:
        plan = area_plan(s, username, code, now=T0)
        cameras = [camera.id for camera, _ in plan_cameras(s, plan)]
        return start_patrol(s, username, plan.id, now=T0).id, cameras


def test_an_area_plan_holds_every_camera_under_it_by_township_and_name(demo: Database) -> None:
    with demo.write() as s:
        plan = create_plan(s, "inspector", "兰山街道 每日巡查", unit_code=TOWNSHIP, now=T0)
        rows = plan_cameras(s, plan)
        names = [camera.name for camera, _ in rows]
        assert {township.code for _, township in rows} == {TOWNSHIP}
        assert len(rows) == 9 and names == sorted(names)
        city = create_plan(s, "inspector", "兰山区", unit_code="371302000000", now=T0)
        towns = [township.code for _, township in plan_cameras(s, city)]
        assert towns == sorted(towns) and len(set(towns)) > 1
    assert sorted(c.id for c, _ in rows) == sorted(township_cameras(demo))


def test_a_camera_list_plan_keeps_its_cameras_once(demo: Database) -> None:
    first, second = township_cameras(demo)[:2]
    with demo.write() as s:
        plan = create_plan(s, "inspector", "重点点位", camera_ids=[second, first, second], now=T0)
        assert plan.camera_ids == [second, first]
        assert {c.id for c, _ in plan_cameras(s, plan)} == {first, second}
        with pytest.raises(ValidationError):
            create_plan(s, "inspector", "空", camera_ids=[], now=T0)
        with pytest.raises(ValidationError):
            create_plan(s, "inspector", "二者", unit_code=TOWNSHIP, camera_ids=[first], now=T0)
        with pytest.raises(NotFound):
            create_plan(s, "inspector", "无此", camera_ids=[999_999], now=T0)


def test_plans_stay_inside_the_inspectors_scope(demo: Database) -> None:
    outside = township_cameras(demo, "371302002000")[0]  # 银雀山街道
    with demo.write() as s:
        town_plan = area_plan(s, "inspector", TOWNSHIP, now=T0)
        assert area_plan(s, "inspector", TOWNSHIP, now=T0).id == town_plan.id  # the ad-hoc plan is reused
        mine = area_plan(s, "inspector_village", VILLAGE, now=T0)
        with pytest.raises(Forbidden):
            create_plan(s, "inspector_village", "整个街道", unit_code=TOWNSHIP, now=T0)
        with pytest.raises(Forbidden):
            create_plan(s, "inspector_village", "别人的摄像机", camera_ids=[outside], now=T0)
        with pytest.raises(Forbidden):
            visible_plans(s, "reviewer_village")
        wide = create_plan(s, "inspector", "跨社区", camera_ids=township_cameras(demo)[:3], now=T0)
        village_plans = [p.id for p in visible_plans(s, "inspector_village")]
        city_plans = [p.id for p in visible_plans(s, "inspector")]
        assert [a.code for a in patrol_areas(s, "inspector_village")] == [VILLAGE]
        assert len(patrol_areas(s, "inspector")) == 33
    assert village_plans == [mine.id]
    assert set(city_plans) == {town_plan.id, mine.id, wide.id}
    with pytest.raises(NotFound), demo.write() as s:
        start_patrol(s, "inspector_village", town_plan.id, now=T0)


def test_views_are_recorded_once_per_camera_with_their_township(demo: Database) -> None:
    patrol_id, cameras = started(demo)
    with demo.write() as s:
        first = record_view(s, patrol_id, cameras[0], "inspector", now=T0)
        again = record_view(s, patrol_id, cameras[0], "inspector", now=T0 + timedelta(minutes=5))
        assert again.id == first.id and again.viewed_at == T0
        record_view(s, patrol_id, cameras[1], "inspector", now=T0)
        counts = patrol_counts(s, patrol_id)
        town = s.execute(select(AdminUnit).where(AdminUnit.code == TOWNSHIP)).scalar_one()
        assert first.township_id == town.id
    assert (counts.planned, counts.viewed, counts.findings) == (9, 2, 0)
    assert counts.coverage == pytest.approx(2 / 9)
    outside = township_cameras(demo, "371302002000")[0]
    with pytest.raises(NotFound), demo.write() as s:
        record_view(s, patrol_id, outside, "inspector", now=T0)
    with pytest.raises(NotFound), demo.write() as s:
        record_view(s, patrol_id, cameras[2], "inspector_village", now=T0)  # not her patrol
    with demo.write() as s:
        assert unfinished_patrol(s, "inspector").id == patrol_id
        assert unfinished_patrol(s, "inspector_village") is None
        finish_patrol(s, patrol_id, "inspector", now=T0 + timedelta(hours=1))
        assert unfinished_patrol(s, "inspector") is None
    with pytest.raises(IllegalAction), demo.write() as s:
        record_view(s, patrol_id, cameras[2], "inspector", now=T0)
    with demo.read() as s:
        assert s.scalar(select(func.count(PatrolView.id)).where(PatrolView.patrol_id == patrol_id)) == 2


def test_a_finding_raises_a_registered_patrol_case_with_its_box(demo: Database) -> None:
    patrol_id, cameras = started(demo)
    box = Box(10, 20, 60, 80)
    with demo.write() as s:
        case = raise_finding(
            s, patrol_id, cameras[3], "inspector", category_code="E0101", description="垃圾堆放", box=box, now=T0
        )
        number, camera_id = case.number, case.camera_id
        assert (case.source, case.state, case.tier) == ("patrol", "reviewing", "city")
        assert case.registered_at == T0
        created = s.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalar_one()
        assert created.data["box"] == {"left": 10, "top": 20, "right": 60, "bottom": 80}
        assert created.data["patrol"] == patrol_id
        assert Box.of(created.data["box"]) == box
    assert camera_id == cameras[3]
    with demo.write() as s:
        raise_finding(s, patrol_id, cameras[3], "inspector", category_code="E0201", description="小广告", now=T0)
        counts = patrol_counts(s, patrol_id)
    assert (counts.viewed, counts.findings) == (1, 2)
    with pytest.raises(ValidationError), demo.write() as s:
        raise_finding(s, patrol_id, cameras[4], "inspector", category_code="E0101", description="  ", now=T0)
    with demo.read() as s:
        assert patrol_counts(s, patrol_id).viewed == 1  # the refused finding wrote nothing, not even its view
        assert s.scalar(select(func.count(Case.id)).where(Case.camera_id == cameras[3])) == 2
        assert s.execute(select(Case).where(Case.number == number)).scalar_one().created_by == "inspector"


def test_a_box_must_be_a_rectangle_inside_the_picture() -> None:
    assert Box(0, 0, 100, 100).pixels(640, 360) == (0, 0, 640, 360)
    assert Box(25, 50, 75, 100).pixels(400, 200) == (100, 100, 200, 100)
    for sides in ((50, 0, 50, 10), (0, 40, 10, 20), (-1, 0, 10, 10), (0, 0, 101, 10)):
        with pytest.raises(ValidationError):
            Box(*sides)
    assert Box.of({"left": 1, "top": 2}) is None and Box.of(None) is None


def test_township_counts_over_a_period(demo: Database) -> None:
    early, cameras = started(demo)
    later, _ = started(demo)
    other, other_cameras = started(demo, code="371302002000")
    with demo.write() as s:
        record_view(s, early, cameras[0], "inspector", now=T0 - timedelta(days=10))  # before the period
        for camera in cameras[:3]:
            record_view(s, later, camera, "inspector", now=T0)
        raise_finding(s, later, cameras[2], "inspector", category_code="E0101", description="垃圾", now=T0)
        record_view(s, other, other_cameras[0], "inspector", now=T0 + timedelta(hours=2))
        rows = {r.code: r for r in township_counts(s, "inspector", T0 - timedelta(days=1), T0 + timedelta(days=1))}
        village = {r.code: r for r in township_counts(s, "inspector_village", T0 - timedelta(days=30), T0)}
    assert len(rows) == 33
    here = rows[TOWNSHIP]
    assert (here.cameras, here.viewed, here.patrols, here.findings) == (9, 3, 1, 1)
    assert here.coverage == pytest.approx(3 / 9)
    there = rows["371302002000"]
    assert (there.viewed, there.patrols, there.findings) == (1, 1, 0)
    assert rows["371302101000"].viewed == 0 and rows["371302101000"].coverage == 0
    # a village inspector sees her own cameras only: one camera, viewed in the earlier patrol
    assert list(village) == [TOWNSHIP]
    assert (village[TOWNSHIP].cameras, village[TOWNSHIP].viewed) == (1, 1)


def test_the_latest_picture_of_a_camera_is_its_newest_snapshot_or_keyframe(demo: Database) -> None:
    patrol_id, cameras = started(demo)
    with demo.write() as s:
        number = raise_finding(
            s, patrol_id, cameras[0], "inspector", category_code="E0101", description="垃圾", now=T0
        ).number
        assert latest_picture(s, cameras[0]) is None
        for kind, minutes in (("keyframe", 0), ("snapshot", 5), ("clip", 9)):
            sha = hashlib.sha256(kind.encode()).hexdigest()
            add_evidence(
                s,
                number,
                kind=kind,
                uri=f"file:///media/{sha}",
                redacted_uri=None,
                sha256=sha,
                size=1,
                source="test",
                captured_at=T0 + timedelta(minutes=minutes),
                face_count=None,
                actor="test",
            )
        picture = latest_picture(s, cameras[0])
        assert picture is not None and picture.kind == "snapshot"
        assert latest_picture(s, cameras[1]) is None
        assert get_user(s, "inspector").role == "inspector"
