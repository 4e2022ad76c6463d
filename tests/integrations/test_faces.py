"""Faces are found, counted and blurred, and nothing else: every fixture photo has exactly its one face found and
hidden; clips are redacted frame by frame with boxes carried between detections; detectors never download."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from integrations import faces as f
from integrations.video import EvidenceError, Video, stream_info
from tests.conftest import ROOT, needs_fixtures
from tests.evidence_media import face_patch, faces_frames, write_video

PHOTOS = ["img12.jpg", "img16.jpg", "img25.jpg", "img46.jpg", "img5.jpg", "img50.jpg", "img51.jpg", "img62.jpg"]


def _centre_inside(box: f.Box, x: float, y: float) -> bool:
    return box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h


@pytest.mark.parametrize("name", PHOTOS)
def test_each_fixture_photo_has_its_one_face_found_and_blurred(name: str, tmp_path: Path) -> None:
    photo = needs_fixtures("faces", name)
    found = f.detect_faces(photo)
    assert len(found) == 1, found
    assert set(found[0]) == {"x", "y", "w", "h", "confidence"}
    result = f.redact_image(photo, tmp_path / "blurred.jpg")
    assert len(result.faces) == 1 and result.path is not None and result.path.is_file()
    face = result.faces[0]
    cx, cy = face.x + face.w / 2, face.y + face.h / 2
    blurred = cv2.imread(str(result.path))
    original = cv2.imread(str(photo))
    assert blurred.shape == original.shape
    # the blurred photo, and smaller copies of it, yield no face where the face was
    detector = f.get_detector()
    for scale in (1.0, 0.5):
        small = cv2.resize(blurred, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        left = [b for b in detector.detect(small) if _centre_inside(b, cx * scale, cy * scale)]
        assert left == [], (scale, left)
    # the face's pixels really changed; the rest of the picture did not
    x0, y0, x1, y1 = face.padded(f.PAD, original.shape[1], original.shape[0])
    inside = cv2.absdiff(blurred[y0:y1, x0:x1], original[y0:y1, x0:x1]).mean()
    outside = cv2.absdiff(blurred[:, : max(1, x0 - 4)], original[:, : max(1, x0 - 4)]).mean()
    assert inside > 10 and outside < 3


def test_a_picture_without_faces(tmp_path: Path) -> None:
    empty = tmp_path / "wall.png"
    cv2.imwrite(str(empty), cv2.GaussianBlur(cv2.imread(str(needs_fixtures("faces", "img5.jpg")))[:60, :60], (9, 9), 0))
    result = f.redact_image(empty, None)
    assert result.faces == [] and result.as_dict() == {"faces": [], "redacted": None}


def test_detectors_never_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Other detectors need their weights in $DEEPFACE_HOME/.deepface/weights; without them: a clear error, and
    DeepFace's downloader is never reached."""
    from deepface.commons import weight_utils

    def no_download(*args: object, **kwargs: object) -> str:
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(weight_utils, "download_weights_if_necessary", no_download)
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    for name, weight in (("yunet", "face_detection_yunet_2023mar.onnx"), ("ssd", "deploy.prototxt")):
        with pytest.raises(EvidenceError, match=re.escape(weight)) as caught:
            f.FaceDetector(name)
        assert str(tmp_path) in str(caught.value) and "never downloaded" in str(caught.value)
    with pytest.raises(EvidenceError, match="retinaface"):
        f.FaceDetector("retinaface")
    with pytest.raises(EvidenceError, match="unknown face detector"):
        f.FaceDetector("skip")
    # with the files in place the check passes (building the model is then DeepFace's business)
    weights = tmp_path / ".deepface" / "weights"
    weights.mkdir(parents=True)
    (weights / "face_detection_yunet_2023mar.onnx").write_bytes(b"stand-in")
    f.check_detector("yunet")


def test_a_detector_whose_package_is_missing_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(EvidenceError, match="needs the Python package mediapipe"):
        f.check_detector("mediapipe")


def test_no_identification_or_attribute_analysis_anywhere() -> None:
    """The privacy rule, checked in the source: DeepFace is used for face boxes only."""
    forbidden = re.compile(r"DeepFace\.(analyze|verify|find|represent|stream|register|search|identify|build_index)")
    attributes = re.compile(r"""["'](Age|Gender|Emotion|Race)["']""")
    for folder in ("integrations", "flows", "models", "ui", "xueliang"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert not forbidden.search(text), path
            assert not attributes.search(text), path


@pytest.fixture(scope="module")
def faces_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[tuple[int, int]]], int]:
    d = tmp_path_factory.mktemp("faces")
    patches = [face_patch(needs_fixtures("faces", n), 140) for n in ("img12.jpg", "img50.jpg")]
    positions: list[list[tuple[int, int]]] = []
    path = write_video(d / "people.mp4", faces_frames(patches, 640, 360, seconds=2.0, positions=positions))
    return path, positions, 140


def test_a_clip_is_redacted_in_every_frame(faces_clip: tuple[Path, list, int], tmp_path: Path) -> None:
    source, positions, size = faces_clip
    result = f.redact_video(source, tmp_path / "redacted.mp4", every=5)
    assert len(result.frames) == len(positions) == 50
    assert result.detections <= 12  # every 5th frame (and the last), not every frame
    # every face's centre is under a box in every frame, detected or carried
    for boxes, corners in zip(result.frames, positions, strict=True):
        for x, y in corners:
            assert any(_centre_inside(b, x + size / 2, y + size / 2) for b in boxes), (boxes, corners)
    assert result.max_faces == 2 and result.tracks == 2 and result.total >= 100
    info = stream_info(result.path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"] is True
    # no face survives in the output
    detector = f.get_detector()
    with Video(result.path) as out:
        index = 0
        while out.grab():
            if index % 7 == 0:
                frame = out.retrieve()
                assert frame is not None and detector.detect(frame) == [], index
            index += 1
    assert index == 50
    view = result.as_dict()
    assert view["total"] == result.total and len(view["faces"]) == 50 and view["redacted"] == str(result.path)


def test_boxes_are_carried_between_detections() -> None:
    """Frames between two detections get the faces of both ends; a face the detector misses once is kept."""

    class Scripted:
        def __init__(self) -> None:
            self.calls = 0

        def detect(self, image: object) -> list[f.Box]:
            self.calls += 1
            if self.calls == 2:
                return []  # the detector blinks
            x = 10 + 20 * (self.calls - 1)
            return [f.Box(x, 20, 30, 30, 0.9)]

    import numpy as np

    frames = [np.zeros((100, 200, 3), np.uint8) for _ in range(11)]
    redactor = f.FrameRedactor(Scripted(), every=5)  # type: ignore[arg-type]
    out = list(redactor(frames))
    assert len(out) == 11 and all(len(boxes) == 1 for boxes in redactor.frames)
    assert redactor.frames[5][0].x == 10  # the blink: the face seen before is held
    assert redactor.frames[7][0].x == round(10 + (50 - 10) * 2 / 5)  # interpolated between 10 (f5) and 50 (f10)
    assert redactor.frames[10][0].x == 50
    assert redactor.tracks == 1
