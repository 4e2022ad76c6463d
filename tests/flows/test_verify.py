"""The verify flow puts the before keyframe and the unit's after photo side by side with a change score."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2

from flows.verify import verify_case
from integrations.storage import Storage
from models.commands import get_case, get_user, patrol_case
from models.db import Database
from models.evidence import add_evidence
from models.settings import Settings
from tests.evidence_media import textured_background


def stored_image(storage: Storage, image, path: Path):
    cv2.imwrite(str(path), image)
    return storage.put(path, ".jpg")


def test_before_and_after_are_compared_for_the_inspector(demo: Database, tmp_path: Path) -> None:
    settings = replace(Settings.load(environ={}), media_dir=str(tmp_path / "media"))
    storage = Storage.from_settings(settings)
    scene = textured_background(640, 360, seed=5)
    before = scene.copy()
    cv2.rectangle(before, (250, 150), (400, 260), (30, 30, 30), -1)  # the heap of garbage
    with demo.write() as s:
        place = get_user(s, "reviewer_village").admin_unit
        number = patrol_case(
            s, username="inspector", category_code="E0101", lat=place.lat, lon=place.lon, description="垃圾堆放"
        ).number
    assert verify_case(demo, settings, number)["status"] == "missing"
    for kind, image in (("keyframe", before), ("after_photo", scene)):
        item = stored_image(storage, image, tmp_path / f"{kind}.jpg")
        with demo.write() as s:
            add_evidence(
                s,
                number,
                kind=kind,
                uri=item.uri,
                redacted_uri=item.uri,
                sha256=item.sha256,
                size=item.size,
                source="test",
                captured_at=None,
                face_count=0,
                actor="test",
            )
    result = verify_case(demo, settings, number, roi="200,100,300,220")
    assert result["status"] == "compared" and result["changed"] is True and result["score"] > 0.1
    with demo.read() as s:
        case = get_case(s, number)
        comparison = [e for e in case.evidence if e.kind == "comparison"]
        assert len(comparison) == 1 and comparison[0].sha256 and "changed=True" in comparison[0].source
        assert case.events[-1].action == "evidence"
