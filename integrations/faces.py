"""Faces in evidence are found to be hidden: detected, counted and blurred, through DeepFace's face detectors.

Nothing here identifies anyone. There is no recognition, verification, embedding, watchlist, nor age, gender,
emotion or ethnicity inference, and none of DeepFace's analyze/verify/find/represent functions is called: only
its detector models (`DeepFace.build_model(name, task="face_detector")`) are used, to get boxes.

The detector is configurable; the default `opencv` (Haar cascades shipped inside the OpenCV wheel) works offline.
The other detectors read their weights from $DEEPFACE_HOME/.deepface/weights. DeepFace would download missing
weights on first use; evidence processing must never reach out to the internet, so the expected files are
checked first and a missing one is an EvidenceError naming the file and where to put it.

Speed: detection runs on a frame downscaled to `max_side` pixels with the boxes mapped back; on a video it runs
every `every` frames, and the frames between two detections are held back until the later detection is known,
then get the boxes of both ends (matched faces interpolated, faces seen at one end only kept, padded a bit
more), so a face is covered while it moves or while the detector blinks for a detection or two.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from integrations.video import DEFAULT_LIMITS, EvidenceError, Limits, clip, read_image

DEFAULT_DETECTOR = "opencv"
PAD = 0.20  # each side of a box grows by this share of its size before blurring
CARRY_PAD = 0.10  # extra padding on frames whose boxes are carried over from detections

# detector -> the weight files DeepFace would otherwise download into $DEEPFACE_HOME/.deepface/weights
_YOLO = {f"yolov{v}{s}": (f"yolov{v}{s}-face.pt",) for v in ("8", "11", "12") for s in "nsml"}
_YOLO.pop("yolov8s")
WEIGHT_FILES: dict[str, tuple[str, ...]] = {
    "opencv": ("haarcascade_frontalface_default.xml", "haarcascade_eye.xml"),
    "ssd": ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"),
    "yunet": ("face_detection_yunet_2023mar.onnx",),
    "centerface": ("centerface.onnx",),
    "dlib": ("shape_predictor_5_face_landmarks.dat",),
    "retinaface": ("retinaface.onnx",),  # .h5 on TensorFlow, .pth on PyTorch; see _weight_files
    "mtcnn": (),  # weights ship inside the mtcnn package
    "fastmtcnn": (),  # inside facenet-pytorch
    "mediapipe": (),  # inside mediapipe
    **_YOLO,
}
# detector -> the Python package it needs besides DeepFace itself
PACKAGES: dict[str, str] = {
    "dlib": "dlib",
    "mtcnn": "mtcnn",
    "fastmtcnn": "facenet_pytorch",
    "mediapipe": "mediapipe",
    **dict.fromkeys(_YOLO, "ultralytics"),
}


def weights_dir() -> Path:
    """Where DeepFace keeps weights: $DEEPFACE_HOME/.deepface/weights (DEEPFACE_HOME defaults to the home)."""
    return Path(os.environ.get("DEEPFACE_HOME") or Path.home()) / ".deepface" / "weights"


def _weight_files(detector: str) -> tuple[str, ...]:
    if detector == "retinaface":
        from deepface.commons import backend_utils

        engine = backend_utils.get_backend_engine()
        return ({"tensorflow": "retinaface.h5", "pytorch": "retinaface.pth"}.get(engine, "retinaface.onnx"),)
    return WEIGHT_FILES[detector]


def check_detector(detector: str) -> None:
    """Refuse a detector that would have to download something: unknown names, missing weight files, missing
    packages. The Haar cascades of `opencv` are looked for in OpenCV's own data folder first."""
    if detector not in WEIGHT_FILES:
        raise EvidenceError(f"unknown face detector {detector!r}; one of: {', '.join(sorted(WEIGHT_FILES))}")
    package = PACKAGES.get(detector)
    if package and importlib.util.find_spec(package) is None:
        raise EvidenceError(f"face detector {detector!r} needs the Python package {package}, which is not installed")
    folder = weights_dir()
    bundled = Path(cv2.__file__).parent / "data"
    for name in _weight_files(detector):
        if detector == "opencv" and (bundled / name).is_file():
            continue
        if not (folder / name).is_file():
            raise EvidenceError(
                f"face detector {detector!r} needs {folder / name}, which is missing; copy the file there (set "
                f"DEEPFACE_HOME to choose the folder) — weights are never downloaded"
            )


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    confidence: float

    def as_dict(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h, "confidence": round(self.confidence, 3)}

    def padded(self, share: float, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) grown by `share` of the size on each side and clipped to the frame."""
        dx, dy = self.w * share, self.h * share
        x0, y0 = max(0, math.floor(self.x - dx)), max(0, math.floor(self.y - dy))
        x1, y1 = min(width, math.ceil(self.x + self.w + dx)), min(height, math.ceil(self.y + self.h + dy))
        return x0, y0, x1, y1


class FaceDetector:
    """One DeepFace detector model, used on downscaled copies of the frames."""

    def __init__(self, detector: str = DEFAULT_DETECTOR, *, max_side: int = 640, min_confidence: float = 0.0) -> None:
        check_detector(detector)
        self.name = detector
        self.max_side = max_side
        self.min_confidence = min_confidence
        self._lock = threading.Lock()  # detector models are not all safe to share between threads
        try:
            from deepface import DeepFace

            self.model = DeepFace.build_model(model_name=detector, task="face_detector")
        except EvidenceError:
            raise
        except Exception as exc:  # DeepFace raises plain ValueError/ImportError for setup problems
            raise EvidenceError(f"face detector {detector!r} cannot start: {exc}") from exc

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in a BGR (or grey) image, in the image's own coordinates, largest first."""
        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            raise EvidenceError("not an image")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        height, width = image.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        small = (
            cv2.resize(
                image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
            if scale < 1.0
            else image
        )
        try:
            with self._lock:
                regions = self.model.detect_faces(small)
        except Exception as exc:
            raise EvidenceError(f"face detection failed ({self.name}): {exc}") from exc
        boxes = []
        for region in regions:
            confidence = float(region.confidence) if region.confidence is not None else 1.0
            if confidence < self.min_confidence:
                continue
            x, y = max(0, int(region.x / scale)), max(0, int(region.y / scale))
            w, h = min(width - x, round(region.w / scale)), min(height - y, round(region.h / scale))
            if w > 1 and h > 1:
                boxes.append(Box(x, y, w, h, confidence))
        return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)


_DETECTORS: dict[tuple[str, int], FaceDetector] = {}
_DETECTORS_LOCK = threading.Lock()


def get_detector(detector: str | None = None, max_side: int = 640) -> FaceDetector:
    """A shared detector per (name, size); the detector name defaults to XUELIANG_FACE_DETECTOR or opencv."""
    name = detector or os.environ.get("XUELIANG_FACE_DETECTOR") or DEFAULT_DETECTOR
    with _DETECTORS_LOCK:
        if (name, max_side) not in _DETECTORS:
            _DETECTORS[(name, max_side)] = FaceDetector(name, max_side=max_side)
        return _DETECTORS[(name, max_side)]


def detect_faces(image: np.ndarray | str | Path, detector: str | None = None) -> list[dict[str, Any]]:
    """Face boxes {x, y, w, h, confidence} of an image array or image file."""
    array = read_image(image) if isinstance(image, str | Path) else image
    return [b.as_dict() for b in get_detector(detector).detect(array)]


# ------------------------------------------------------------------------------------------------ blurring


def obscure(image: np.ndarray, boxes: Iterable[Box], pad: float = PAD) -> np.ndarray:
    """Hide each padded box in place: the region is reduced to a few colour cells (pixelation) and smoothed
    back up, which leaves no facial detail to restore. Returns the image."""
    height, width = image.shape[:2]
    for box in boxes:
        x0, y0, x1, y1 = box.padded(pad, width, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        region = image[y0:y1, x0:x1]
        w, h = x1 - x0, y1 - y0
        # four cells across: at six, Haar cascades still found a face in some of the fixture photos
        cells = max(2, min(4, w // 4))
        tiny = cv2.resize(region, (cells, max(2, round(cells * h / w))), interpolation=cv2.INTER_AREA)
        smooth = cv2.resize(tiny, (w, h), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(w, h) // 2) | 1)
        image[y0:y1, x0:x1] = cv2.GaussianBlur(smooth, (k, k), 0)
    return image


@dataclass
class ImageRedaction:
    faces: list[Box]
    path: Path | None

    def as_dict(self) -> dict[str, Any]:
        return {"faces": [b.as_dict() for b in self.faces], "redacted": str(self.path) if self.path else None}


def redact_array(image: np.ndarray, detector: str | None = None) -> tuple[np.ndarray, list[Box]]:
    """A blurred copy of a BGR image and the faces found in it."""
    faces = get_detector(detector).detect(image)
    return obscure(image.copy(), faces), faces


def redact_image(
    path_in: str | Path,
    path_out: str | Path | None,
    detector: str | None = None,
    *,
    quality: int = 92,
    limits: Limits = DEFAULT_LIMITS,
) -> ImageRedaction:
    """Detect and blur the faces of an image file; write the blurred copy when path_out is given (format by its
    suffix, JPEG by default)."""
    image = read_image(path_in, limits)
    redacted, faces = redact_array(image, detector)
    out = None
    if path_out is not None:
        out = Path(path_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        params = [cv2.IMWRITE_JPEG_QUALITY, quality] if out.suffix.lower() in (".jpg", ".jpeg", "") else []
        target = out if out.suffix else out.with_suffix(".jpg")
        if not cv2.imwrite(str(target), redacted, params):
            raise EvidenceError(f"cannot write {target}")
        out = target
    return ImageRedaction(faces, out)


# ------------------------------------------------------------------------------------------------ video


@dataclass
class _Track:
    box: tuple[float, float, float, float]  # x, y, w, h
    confidence: float
    missed: int = 0


def _center_distance(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return math.hypot(a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2)


@dataclass
class FrameRedactor:
    """Blurs faces in a stream of frames (an iterable in, an iterator out, one for one), detecting every
    `every` frames. `frames` receives the face boxes of each frame; `tracks` counts faces followed."""

    detector: FaceDetector
    every: int = 5
    hold: int = 2  # detections a face may be missed before its box is dropped
    frames: list[list[Box]] = field(default_factory=list)
    tracks: int = 0
    detections: int = 0
    _live: dict[int, _Track] = field(default_factory=dict)
    _next_id: int = 0

    def __call__(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        start: dict[int, _Track] = {}
        last: np.ndarray | None = None
        for i, frame in enumerate(frames):
            last = frame
            if i % max(1, self.every):
                pending.append(frame)
                continue
            end = self._update(self.detector.detect(frame))
            yield from self._flush(pending, start, end)
            pending = []
            yield self._emit(frame, [self._box(t.box, t.confidence) for t in end.values()], PAD)
            start = end
        if pending and last is not None:
            # frames after the last detection: detect on the final one and treat it like a detection frame
            final = pending.pop()
            end = self._update(self.detector.detect(final))
            yield from self._flush(pending, start, end)
            yield self._emit(final, [self._box(t.box, t.confidence) for t in end.values()], PAD)

    def _update(self, found: list[Box]) -> dict[int, _Track]:
        """Match the new detections to the followed faces (nearest centre within about a face size); faces not
        seen are kept for `hold` detections. Returns a snapshot {track id: track} after the update."""
        self.detections += 1
        unmatched = list(found)
        for track in self._live.values():
            track.missed += 1
        for track_id, track in sorted(self._live.items(), key=lambda kv: -kv[1].box[2] * kv[1].box[3]):
            if not unmatched:
                break
            best = min(unmatched, key=lambda b: _center_distance(track.box, (b.x, b.y, b.w, b.h)))
            limit = max(track.box[2], track.box[3], best.w, best.h) * 1.5
            if _center_distance(track.box, (best.x, best.y, best.w, best.h)) <= limit:
                self._live[track_id] = _Track((best.x, best.y, best.w, best.h), best.confidence, 0)
                unmatched.remove(best)
        for box in unmatched:
            self._live[self._next_id] = _Track((box.x, box.y, box.w, box.h), box.confidence, 0)
            self._next_id += 1
            self.tracks += 1
        self._live = {k: t for k, t in self._live.items() if t.missed <= self.hold}
        return {k: _Track(t.box, t.confidence, t.missed) for k, t in self._live.items()}

    def _flush(
        self, pending: list[np.ndarray], start: dict[int, _Track], end: dict[int, _Track]
    ) -> Iterator[np.ndarray]:
        count = len(pending)
        for j, frame in enumerate(pending):
            share = (j + 1) / (count + 1)
            boxes = []
            for track_id in start.keys() | end.keys():
                a, b = start.get(track_id), end.get(track_id)
                if a is not None and b is not None:
                    box = tuple(p + (q - p) * share for p, q in zip(a.box, b.box, strict=True))
                    boxes.append(self._box(box, max(a.confidence, b.confidence)))  # type: ignore[arg-type]
                else:
                    only = a or b
                    assert only is not None
                    boxes.append(self._box(only.box, only.confidence))
            yield self._emit(frame, boxes, PAD + CARRY_PAD)

    @staticmethod
    def _box(box: tuple[float, float, float, float], confidence: float) -> Box:
        return Box(round(box[0]), round(box[1]), round(box[2]), round(box[3]), confidence)

    def _emit(self, frame: np.ndarray, boxes: list[Box], pad: float) -> np.ndarray:
        self.frames.append(boxes)
        return obscure(frame, boxes, pad)


@dataclass
class VideoRedaction:
    frames: list[list[Box]]
    tracks: int
    detections: int
    path: Path
    seconds: float

    @property
    def total(self) -> int:
        """Face boxes over all frames."""
        return sum(len(f) for f in self.frames)

    @property
    def max_faces(self) -> int:
        """The most faces in one frame: the face count of a clip."""
        return max((len(f) for f in self.frames), default=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "faces": [[b.as_dict() for b in f] for f in self.frames],
            "total": self.total,
            "max_faces": self.max_faces,
            "tracks": self.tracks,
            "frames": len(self.frames),
            "detections": self.detections,
            "redacted": str(self.path),
            "seconds": round(self.seconds, 3),
        }


def redact_video(
    path_in: str | Path,
    path_out: str | Path,
    detector: str | None = None,
    *,
    every: int = 5,
    start_s: float = 0.0,
    end_s: float | None = None,
    max_side: int = 640,
    limits: Limits = DEFAULT_LIMITS,
) -> VideoRedaction:
    """Decode, detect (every `every` frames), blur and re-encode as browser-playable H.264 MP4."""
    started = time.perf_counter()
    redactor = FrameRedactor(get_detector(detector, max_side), every=every)
    result = clip(path_in, Path(path_out), start_s, end_s, transform=redactor, limits=limits)
    return VideoRedaction(
        redactor.frames, redactor.tracks, redactor.detections, result.path, time.perf_counter() - started
    )


__all__ = [
    "DEFAULT_DETECTOR",
    "Box",
    "FaceDetector",
    "FrameRedactor",
    "ImageRedaction",
    "VideoRedaction",
    "check_detector",
    "detect_faces",
    "get_detector",
    "obscure",
    "redact_array",
    "redact_image",
    "redact_video",
    "weights_dir",
]
