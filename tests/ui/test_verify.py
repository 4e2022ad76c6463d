"""The verification page: rectified cases in the inspector's scope with the picture of the problem beside the
unit's after photo and a change score; closing, sending back (a reason required), and a clear message when
someone else acted first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from models.commands import ActParams, act, get_case
from models.db import Database
from models.org import AdminUnit, Camera
from models.patrol import Box, area_plan, raise_finding, start_patrol
from models.seed_data import DEMO_TOWNSHIP, government_code
from tests.evidence_media import street_scene, with_garbage
from tests.ui.evidence_support import add_picture
from tests.ui.support import console, texts

GARBAGE = (120, 100, 160, 120)  # x, y, w, h of the heap in the 400 x 300 scene
BOX = Box(25, 25, 80, 85)  # percent: the heap with a margin


@pytest.fixture
def media(tmp_path: Path) -> Path:
    return tmp_path / "media"


def fixed_case(db: Database, media: Path, after: np.ndarray, camera_unit: str = "371302001001") -> str:
    """A patrol finding (boxed snapshot) dispatched to 兰山街道办事处, acknowledged and reported fixed with an
    after photo."""
    scene = street_scene(400, 300)
    with db.write() as s:
        camera = (
            s.execute(select(Camera).join(AdminUnit).where(AdminUnit.code == camera_unit).order_by(Camera.id))
            .scalars()
            .first()
        )
        assert camera is not None
        plan = area_plan(s, "inspector", camera.unit.code)
        patrol = start_patrol(s, "inspector", plan.id)
        number = raise_finding(
            s, patrol.id, camera.id, "inspector", category_code="E0101", description="垃圾堆放", box=BOX
        ).number
    add_picture(db, media, number, "snapshot", with_garbage(scene, GARBAGE), "inspector")
    with db.write() as s:
        act(s, number, "dispatch", "reviewer_city", ActParams(unit=government_code(DEMO_TOWNSHIP)))
        act(s, number, "acknowledge", "dispatcher")
    add_picture(db, media, number, "after_photo", after, "dispatcher")
    with db.write() as s:
        act(s, number, "report_fixed", "dispatcher", ActParams(note="已清运"))
    return number


def state(db: Database, number: str) -> tuple[str, int, int]:
    with db.read() as s:
        case = get_case(s, number)
        return case.state, case.version, case.rework_count


def test_a_fixed_case_shows_before_and_after_with_a_score_and_closes(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, media: Path
) -> None:
    number = fixed_case(demo, media, street_scene(400, 300))
    app = console(demo_url, monkeypatch, "inspector", "verify", media_dir=str(media))
    assert not app.exception and app.title[0].value == "整改核查"
    page = texts(app)
    assert number in page and "整改前" in page and "整改后" in page
    assert len(app.get("image")) == 3  # before, after, and the comparison picture
    assert "变化评分" in page and "（框选范围内）" in page and "画面已明显变化" in page
    app.button(key=f"verify_pass_{number}").click().run()
    assert not app.exception
    assert state(demo, number)[0] == "closed"
    assert "暂无待核查的案卷" in texts(app) and f"{number}：核查结案" in texts(app)


def test_sending_back_needs_a_reason_and_returns_the_case_for_rework(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, media: Path
) -> None:
    scene = street_scene(400, 300)
    number = fixed_case(demo, media, with_garbage(scene, GARBAGE))  # the heap is still there
    before = state(demo, number)
    app = console(demo_url, monkeypatch, "inspector", "verify", media_dir=str(media))
    assert "未见明显变化" in texts(app)
    app.button(key=f"verify_fail_{number}").click().run()
    assert "须填写理由" in texts(app)
    assert state(demo, number) == before  # refused: nothing written
    app.text_input(key=f"verify_note_{number}").input("垃圾仍未清运")
    app.button(key=f"verify_fail_{number}").click().run()
    assert not app.exception
    assert state(demo, number)[0] == "dispatched" and state(demo, number)[2] == 1
    assert number not in texts(app).replace(f"{number}：", "")  # gone from the list; only the success message


def test_someone_acting_first_is_reported_and_nothing_is_written(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, media: Path
) -> None:
    number = fixed_case(demo, media, street_scene(400, 300))
    app = console(demo_url, monkeypatch, "inspector", "verify", media_dir=str(media))
    with demo.write() as s:
        act(s, number, "verify_fail", "reviewer_city", ActParams(note="另有问题"))
    changed = state(demo, number)
    app.button(key=f"verify_pass_{number}").click().run()
    assert "已被修改" in texts(app) and "reviewer_city verify_fail" in texts(app)
    assert state(demo, number) == changed


def test_a_village_inspector_sees_only_her_villages_fix_ups_in_english(
    demo_url: str, demo: Database, monkeypatch: pytest.MonkeyPatch, media: Path
) -> None:
    hers = fixed_case(demo, media, street_scene(400, 300))
    other = fixed_case(demo, media, street_scene(400, 300), camera_unit="371302001002")  # 兰山第二社区
    app = console(demo_url, monkeypatch, "inspector_village", "verify", lang="en", media_dir=str(media))
    assert app.title[0].value == "Verify fix-ups"
    page = texts(app)
    assert hers in page and other not in page
    assert "Before" in page and "After" in page and "Change score" in page
    assert app.button(key=f"verify_pass_{hers}").label == "Verify and close"
