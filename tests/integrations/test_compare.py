"""Before/after comparison: small camera shifts and other light score low; a removed heap of rubbish scores high;
the side-by-side image is written for the inspector."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from integrations.compare import CHANGE_THRESHOLD, compare
from integrations.video import EvidenceError, Roi
from tests.conftest import needs_fixtures
from tests.evidence_media import shifted_and_relit, street_scene, with_garbage

RUBBISH = (300, 250, 160, 120)
REGION = Roi(280, 230, 200, 160)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return street_scene()


@pytest.mark.parametrize(
    ("gain", "offset"),
    [(1.3, 15), (0.6, -10), (1.6, 30)],  # brighter, darker, bright enough to clip
)
def test_same_view_shifted_and_relit_scores_low(scene: np.ndarray, gain: float, offset: float) -> None:
    before = with_garbage(scene, RUBBISH)
    after = shifted_and_relit(before, gain=gain, offset=offset)
    result = compare(before, after, REGION)
    assert result.score < 0.05 and result.changed is False
    assert result.method == "orb" and result.matches > 100
    assert result.shift == pytest.approx((-5.0, 3.0), abs=1.0)  # the shift put back


def test_rubbish_removed_scores_high(scene: np.ndarray, tmp_path: Path) -> None:
    before = with_garbage(scene, RUBBISH)
    after = shifted_and_relit(scene)
    result = compare(before, after, REGION, tmp_path / "side.jpg")
    assert result.score > 0.3 and result.changed is True
    image = cv2.imread(str(result.side_by_side))
    assert image is not None and image.shape[1] > 3 * scene.shape[1] and image.shape[0] == scene.shape[0]
    view = result.as_dict()
    assert set(view) >= {"score", "changed", "side_by_side"} and view["side_by_side"] == str(tmp_path / "side.jpg")


def test_the_score_is_a_share_of_the_region(scene: np.ndarray) -> None:
    before = with_garbage(scene, RUBBISH)
    after = shifted_and_relit(scene)
    whole = compare(before, after)  # the heap is about 4 % of the whole picture
    assert whole.score < compare(before, after, REGION).score and 0.0 <= whole.score <= 1.0
    assert whole.threshold == CHANGE_THRESHOLD


def test_flat_scenes_are_aligned_by_ecc(scene: np.ndarray) -> None:
    smooth = cv2.GaussianBlur(street_scene(seed=5), (0, 0), 20)
    same = compare(smooth, shifted_and_relit(smooth, dx=6, dy=4, angle=0))
    assert same.method == "ecc" and same.changed is False
    assert same.shift == pytest.approx((-6.0, -4.0), abs=1.5)
    painted = smooth.copy()
    cv2.rectangle(painted, (300, 250), (460, 370), (30, 200, 40), -1)  # same grey level as the ground: colour
    gone = compare(painted, shifted_and_relit(smooth, dx=6, dy=4, angle=0), REGION)
    assert gone.changed is True


def test_a_real_frame(tmp_path: Path) -> None:
    clip = needs_fixtures("video", "dvrscan_traffic_camera.mp4")
    capture = cv2.VideoCapture(str(clip))
    ok, frame = capture.read()
    capture.release()
    assert ok
    assert compare(frame, shifted_and_relit(frame)).changed is False
    heap = with_garbage(frame, (600, 500, 200, 120))
    assert compare(heap, shifted_and_relit(frame), "580,480,240,160").score > 0.5


def test_files_and_bad_inputs(scene: np.ndarray, tmp_path: Path) -> None:
    before, after = tmp_path / "before.jpg", tmp_path / "after.png"
    cv2.imwrite(str(before), scene)
    cv2.imwrite(str(after), cv2.resize(shifted_and_relit(scene), (400, 300)))  # a smaller after photo
    assert compare(before, after, "280,230,200,160").changed is False
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    with pytest.raises(EvidenceError, match="not a readable image"):
        compare(broken, after)
    with pytest.raises(EvidenceError, match="outside"):
        compare(before, after, "5000,5000,10,10")
