"""The video patrol page: an inspector chooses a plan, steps through its cameras (each look recorded, coverage
counted), sees each camera's latest picture from wherever it comes, and flags a problem with a box, which raises a
registered patrol case at her tier with the boxed picture as snapshot evidence."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select, update

from integrations.storage import Storage
from models.cases import Case, CaseEvent, Evidence
from models.commands import patrol_case
from models.db import Database
from models.org import AdminUnit, Camera
from models.patrol import Patrol, PatrolView, create_plan
from tests.evidence_media import street_scene, write_video
from tests.ui.evidence_support import add_picture, encoded
from tests.ui.support import console, texts

TOWNSHIP = "371302001000"  # 兰山街道: 9 cameras


def township_cameras(db: Database, code: str = TOWNSHIP) -> list[int]:
    """The township's cameras in patrol order (by name)."""
    with db.read() as s:
        town = s.execute(select(AdminUnit).where(AdminUnit.code == code)).scalar_one()
        return list(
            s.execute(
                select(Camera.id).join(AdminUnit).where(AdminUnit.path.startswith(town.path)).order_by(Camera.name)
            ).scalars()
        )


def progress(app) -> str:
    return app.get("progress")[0].proto.text


def metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_an_inspector_patrols_a_township_and_flags_a_problem_with_a_box(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    cameras = township_cameras(demo)
    app = console(demo_url, monkeypatch, "inspector", media_dir=str(media))  # the inspector's first page
    assert app.title[0].value == "视频巡查"
    app.selectbox(key="patrol_plan").set_value(f"unit:{TOWNSHIP}")
    app.button(key="patrol_start").click().run()
    assert not app.exception
    assert progress(app) == "第 1/9 个"
    assert metrics(app)["本次覆盖率"] == "1/9 (11%)"
    app.button(key="patrol_next").click().run()
    assert progress(app) == "第 2/9 个" and metrics(app)["本次覆盖率"] == "2/9 (22%)"
    app.button(key="patrol_prev").click().run()
    assert progress(app) == "第 1/9 个" and metrics(app)["本次覆盖率"] == "2/9 (22%)"
    with demo.read() as s:
        patrol = s.execute(select(Patrol)).scalar_one()
        views = s.execute(select(PatrolView).order_by(PatrolView.id)).scalars().all()
        town = s.execute(select(AdminUnit).where(AdminUnit.code == TOWNSHIP)).scalar_one()
        assert (patrol.inspector, patrol.planned) == ("inspector", 9)
        assert [v.camera_id for v in views] == cameras[:2] and {v.township_id for v in views} == {town.id}

    # the first camera has no picture anywhere: the inspector uploads a screenshot from the video platform
    assert "暂无画面" in texts(app)
    scene = street_scene(400, 300)
    app.file_uploader(key=f"patrol_upload_{cameras[0]}").set_value(("shot.png", encoded(scene), "image/png")).run()
    for side, value in (("left", 10.0), ("top", 20.0), ("right", 60.0), ("bottom", 80.0)):
        app.number_input(key=f"patrol_box_{side}").set_value(value)
    app.selectbox(key="patrol_category").set_value("E0101")
    app.text_area(key="patrol_note").input("路边垃圾堆放")
    app.run()
    assert len(app.get("image")) == 2  # the picture and the box preview
    app.button(key="patrol_flag").click().run()
    assert not app.exception

    with demo.read() as s:
        case = s.execute(select(Case)).scalar_one()
        created = s.execute(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "create")
        ).scalar_one()
        evidence = s.execute(select(Evidence).where(Evidence.case_id == case.id)).scalar_one()
        findings = s.execute(select(PatrolView.findings).where(PatrolView.camera_id == cameras[0])).scalar_one()
    assert (case.source, case.state, case.tier, case.camera_id) == ("patrol", "reviewing", "city", cameras[0])
    assert case.registered_at is not None and case.description == "路边垃圾堆放"
    assert created.data["box"] == {"left": 10.0, "top": 20.0, "right": 60.0, "bottom": 80.0}
    assert created.data["patrol"] == patrol.id
    assert evidence.kind == "snapshot" and evidence.sha256 and evidence.status == "ready"
    stored = cv2.imdecode(np.frombuffer(Storage(str(media)).read(evidence.uri), np.uint8), cv2.IMREAD_COLOR)
    assert stored.shape[:2] == (300, 400)
    b, g, r = (int(v) for v in stored[150, 38])  # on the line just left of the box (x = 40 px)
    assert r > 180 and g < 90 and b < 90
    assert findings == 1
    assert metrics(app)["发现问题数"] == "1"
    assert f"已巡查立案：{case.number}" in texts(app)
    link = app.get("page_link")[0].proto
    assert case.number in link.label and f"n={case.number}" in link.query_string

    table = app.dataframe[0].value.set_index("乡镇（街道）")
    assert table.loc["兰山街道", "已巡查"] == 2 and table.loc["兰山街道", "发现问题数"] == 1
    assert table.loc["兰山街道", "覆盖率"] == "22%" and table.loc["银雀山街道", "已巡查"] == 0
    app.button(key="patrol_finish").click().run()
    with demo.read() as s:
        assert s.execute(select(Patrol.finished_at)).scalar_one() is not None
    assert app.selectbox(key="patrol_plan") is not None


def test_each_camera_shows_its_latest_picture_from_wherever_it_comes(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A clip behind the snapshot URL (its last frame), an image file, an unreachable source (a warning, then the
    case evidence or the upload path), and the newest snapshot of the camera's cases."""
    media = tmp_path / "media"
    clip = write_video(tmp_path / "clip.mp4", (street_scene(320, 240, seed=i % 3) for i in range(30)), fps=10)
    image = tmp_path / "still.jpg"
    cv2.imwrite(str(image), street_scene(320, 240, seed=7))
    cameras = township_cameras(demo)[:4]
    sources = [str(clip), str(image), str(tmp_path / "gone.mp4"), str(tmp_path / "gone.jpg")]
    with demo.write() as s:
        for camera_id, url in zip(cameras, sources, strict=True):
            s.execute(update(Camera).where(Camera.id == camera_id).values(snapshot_url=url))
        camera = s.get(Camera, cameras[3])
        number = patrol_case(
            s,
            username="inspector",
            category_code="E0101",
            lat=camera.lat,
            lon=camera.lon,
            description="旧问题",
            camera_id=camera.id,
        ).number
        plan = create_plan(s, "inspector", "四个点位", camera_ids=cameras).id
    add_picture(demo, media, number, "snapshot", street_scene(320, 240, seed=11), "test")

    app = console(demo_url, monkeypatch, "inspector", media_dir=str(media))
    app.selectbox(key="patrol_plan").set_value(f"plan:{plan}")
    app.button(key="patrol_start").click().run()
    assert progress(app) == "第 1/4 个"
    assert len(app.get("image")) == 2 and "实时画面" in texts(app) and "暂无画面" not in texts(app)
    app.button(key="patrol_next").click().run()
    assert len(app.get("image")) == 2 and "实时画面" in texts(app)
    app.button(key="patrol_next").click().run()
    assert "无法获取实时画面" in texts(app) and "暂无画面" in texts(app)
    assert not app.get("image") and app.file_uploader(key=f"patrol_upload_{cameras[2]}") is not None
    app.button(key="patrol_next").click().run()
    assert "无法获取实时画面" in texts(app) and "案卷证据" in texts(app) and "暂无画面" not in texts(app)
    assert len(app.get("image")) == 2
    assert metrics(app)["本次覆盖率"] == "4/4 (100%)"
    assert not app.exception


def test_a_village_inspector_patrols_only_her_village(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    cameras = township_cameras(demo)
    with demo.write() as s:
        city_plan = create_plan(s, "inspector", "兰山街道全部", unit_code=TOWNSHIP).id
        wide = create_plan(s, "inspector", "两个社区", camera_ids=cameras[:2]).id
    app = console(demo_url, monkeypatch, "inspector_village")
    options = app.selectbox(key="patrol_plan")
    assert f"plan:{city_plan}" not in options.options and f"plan:{wide}" not in options.options
    assert options.options == ["兰山第一社区（全部摄像机）"]
    assert app.multiselect(key="plan_cameras").options == ["兰山街道-兰山第一社区-主干道-1"]
    app.button(key="patrol_start").click().run()
    assert progress(app) == "第 1/1 个"
    again = console(demo_url, monkeypatch, "inspector_village")  # another browser session: the patrol is waiting
    assert "您有未结束的巡查：兰山第一社区 全部摄像机" in texts(again)
    again.button(key="patrol_resume").click().run()
    assert progress(again) == "第 1/1 个" and metrics(again)["本次覆盖率"] == "1/1 (100%)"
    assert list(app.dataframe[0].value["乡镇（街道）"]) == ["兰山街道"]
    app.sidebar.radio(key="lang").set_value("en").run()
    assert app.title[0].value == "Video patrol"
    assert progress(app) == "camera 1 of 1"
    assert metrics(app) == {"Coverage": "1/1 (100%)", "Findings": "0"}
    assert "No picture" in texts(app)
    assert not app.exception
