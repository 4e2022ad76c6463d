"""Before/after comparison for verification (核查): is the problem in the before keyframe gone in the after photo?

The after photo is taken later from the same camera (or by an inspector from about the same spot): the view may
have shifted by a few pixels, the light is different. So:

1. Align. Both images are turned grey and locally equalised (CLAHE), ORB features are matched (ratio test) and a
   homography is fitted with RANSAC; when too few features agree (a flat scene), ECC finds a Euclidean motion
   instead; when both fail the images are compared as they are, and the result says so (`method`).
2. Compare, with the light taken out: histogram matching for global changes, local normalised cross-correlation
   for structure, a robust brightness test for flat objects and a colour test (CIELAB a*b*, cast removed) for an
   object as grey as its ground (see `_change_map`). A small opening removes speckle and alignment edge residue.
3. Score: the share of the region's pixels (where the aligned after image has pixels) that changed, in [0, 1].

`changed` is `score >= CHANGE_THRESHOLD` (0.10: a tenth of the region looks different). It is an aid: the
side-by-side image (before | aligned after | change heat map, region outlined) is what the inspector judges.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from integrations.video import DEFAULT_LIMITS, EvidenceError, Limits, Roi, read_image

CHANGE_THRESHOLD = 0.10
WINDOW = 15  # pixels (at the work scale) of the local comparison windows
NCC_THRESHOLD = 0.5  # local structure changed below this correlation
TEXTURE_FLOOR = 8.0  # grey-level spread under which a window counts as flat
BRIGHTNESS_SPREADS = 4.0
BRIGHTNESS_FLOOR = 25.0
COLOUR_FLOOR = 30.0  # a*b* distance (OpenCV's 8-bit Lab units) of a changed colour
WORK_SIDE = 1024  # images are compared at most this large


@dataclass
class Comparison:
    score: float
    changed: bool
    side_by_side: Path | None
    method: str  # orb, ecc or none: how the after image was aligned
    matches: int  # RANSAC inliers (orb) or 0
    shift: tuple[float, float]  # where the after image's centre moved to align, in pixels of the before image
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 4),
            "changed": self.changed,
            "side_by_side": str(self.side_by_side) if self.side_by_side else None,
            "method": self.method,
            "matches": self.matches,
            "shift": [round(self.shift[0], 1), round(self.shift[1], 1)],
            "threshold": self.threshold,
        }


def _load(image: np.ndarray | str | Path, limits: Limits) -> np.ndarray:
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image[:, :, :3]
    return read_image(image, limits)


def _equalised(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(grey)


def _align_orb(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, int] | None:
    orb = cv2.ORB_create(nfeatures=4000, fastThreshold=10)
    kp1, des1 = orb.detectAndCompute(before, None)
    kp2, des2 = orb.detectAndCompute(after, None)
    if des1 is None or des2 is None or len(kp1) < 12 or len(kp2) < 12:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(des2, des1, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
    if len(good) < 12:
        return None
    src = np.float32([kp2[m.queryIdx].pt for m in good]).reshape(-1, 1, 2)
    dst = np.float32([kp1[m.trainIdx].pt for m in good]).reshape(-1, 1, 2)
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 3.0, maxIters=2000, confidence=0.995)
    if matrix is None or inliers is None:
        return None
    count = int(inliers.sum())
    if count < 10 or not _plausible(matrix):
        return None
    return matrix, count


def _plausible(matrix: np.ndarray) -> bool:
    """A homography of the same view: no flip, no big zoom, little perspective."""
    affine = matrix[:2, :2] / matrix[2, 2]
    det = float(np.linalg.det(affine))
    return 0.6 < det < 1.6 and abs(matrix[2, 0] / matrix[2, 2]) < 2e-3 and abs(matrix[2, 1] / matrix[2, 2]) < 2e-3


def _align_ecc(before: np.ndarray, after: np.ndarray) -> np.ndarray | None:
    warp = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
    try:
        _, warp = cv2.findTransformECC(
            before.astype(np.float32), after.astype(np.float32), warp, cv2.MOTION_EUCLIDEAN, criteria, None, 5
        )
    except cv2.error:
        return None
    matrix = np.vstack([warp, [0, 0, 1]]).astype(np.float64)
    # ECC maps before -> after coordinates; warping the after image into the before frame needs the inverse
    return np.linalg.inv(matrix)


def _change_map(
    before: np.ndarray, after: np.ndarray, valid: np.ndarray, chroma: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel change of two aligned grey images: (changed mask, strength for the heat map, 1 = threshold).

    Light is taken out twice. Globally, the after image's grey levels are mapped onto the before image's by
    matching their histograms over the overlap: any monotone change (exposure, gamma, even clipping in a bright
    afternoon) cancels, and a local change is too small a share of the pixels to bend the mapping. Locally,
    structure is compared by normalised cross-correlation in small windows, which ignores the window's own
    brightness and contrast. A pixel has changed when the structure differs (correlation below NCC_THRESHOLD
    where there is texture) or the local brightness differs by more than BRIGHTNESS_SPREADS times the spread of
    the unchanged areas' difference (and at least BRIGHTNESS_FLOOR grey levels): the second catches a flat object
    (a white bag) on flat ground, whose inside has no structure to compare. Colour is compared too (the a*b*
    plane of CIELAB, less the overall colour cast, so a white-balance change cancels), for an object whose grey
    level happens to equal the ground's.
    """
    inside = valid > 0
    cdf_a = np.bincount(before[inside], minlength=256).cumsum().astype(np.float64)
    cdf_b = np.bincount(after[inside], minlength=256).cumsum().astype(np.float64)
    lut = np.interp(cdf_b / cdf_b[-1], cdf_a / cdf_a[-1], np.arange(256)).astype(np.float32)
    a = cv2.GaussianBlur(before.astype(np.float32), (0, 0), 1.5)
    b = cv2.GaussianBlur(lut[after], (0, 0), 1.5)
    window = (WINDOW, WINDOW)
    mean_a, mean_b = cv2.blur(a, window), cv2.blur(b, window)
    var_a = np.maximum(cv2.blur(a * a, window) - mean_a * mean_a, 0)
    var_b = np.maximum(cv2.blur(b * b, window) - mean_b * mean_b, 0)
    cov = cv2.blur(a * b, window) - mean_a * mean_b
    floor = TEXTURE_FLOOR**2 / 2  # flat windows correlate as if perfectly (no structure to disagree about)
    ncc = (cov + floor) / np.sqrt((var_a + floor) * (var_b + floor))
    brightness = np.abs(mean_a - mean_b)
    noise = float(np.median(brightness[inside])) * 1.4826
    limit = max(BRIGHTNESS_SPREADS * noise, BRIGHTNESS_FLOOR)
    colour = _colour_difference(*chroma, window, inside)
    strength = np.maximum(np.maximum((1.0 - ncc) / (1.0 - NCC_THRESHOLD), brightness / limit), colour / COLOUR_FLOOR)
    changed = ((ncc < NCC_THRESHOLD) | (brightness > limit) | (colour > COLOUR_FLOOR)) & inside
    return changed.astype(np.uint8) * 255, strength


def _colour_difference(
    before: np.ndarray, after: np.ndarray, window: tuple[int, int], inside: np.ndarray
) -> np.ndarray:
    """Local mean a*b* distance of two Lab images, after removing the median cast over the overlap."""
    first = cv2.blur(before[:, :, 1:].astype(np.float32), window)
    second = cv2.blur(after[:, :, 1:].astype(np.float32), window)
    delta = first - second
    delta -= np.median(delta[inside], axis=0)
    return np.sqrt((delta**2).sum(axis=2))


def compare(
    before: np.ndarray | str | Path,
    after: np.ndarray | str | Path,
    roi: Roi | str | None = None,
    out: Path | None = None,
    *,
    threshold: float = CHANGE_THRESHOLD,
    limits: Limits = DEFAULT_LIMITS,
) -> Comparison:
    """Align `after` to `before`, score the change inside `roi` (before-image pixels), and write the side-by-side
    image to `out` when given."""
    first, second = _load(before, limits), _load(after, limits)
    height, width = first.shape[:2]
    region = Roi.parse(roi) if isinstance(roi, str) else roi
    box = region.clipped(width, height) if region else Roi(0, 0, width, height)
    scale = min(1.0, WORK_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    a = cv2.resize(first, size, interpolation=cv2.INTER_AREA) if scale < 1 else first.copy()
    b = cv2.resize(second, size, interpolation=cv2.INTER_AREA)  # also brings an other-sized after photo over
    ga, gb = _equalised(a), _equalised(b)

    method, matches = "none", 0
    matrix = np.eye(3)
    found = _align_orb(ga, gb)
    if found is not None:
        matrix, matches = found
        method = "orb"
    else:
        ecc = _align_ecc(ga, gb)
        if ecc is not None:
            matrix, method = ecc, "ecc"
    aligned = cv2.warpPerspective(b, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    coverage = cv2.warpPerspective(np.full(size[::-1], 255, np.uint8), matrix, size, flags=cv2.INTER_NEAREST)
    coverage = cv2.erode(coverage, np.ones((5, 5), np.uint8))
    centre = np.array([[[size[0] / 2, size[1] / 2]]], np.float64)
    moved = cv2.perspectiveTransform(centre, matrix)[0, 0] - centre[0, 0]

    # the region at the work scale, less what the after image does not cover
    x0, y0 = int(box.x * scale), int(box.y * scale)
    x1, y1 = max(x0 + 1, int((box.x + box.w) * scale)), max(y0 + 1, int((box.y + box.h) * scale))
    mask = np.zeros(size[::-1], np.uint8)
    mask[y0:y1, x0:x1] = 255
    mask = cv2.bitwise_and(mask, coverage)
    if cv2.countNonZero(mask) < 64:
        raise EvidenceError("the after image does not overlap the region of the before image enough to compare")
    changed_pixels, difference = _change_map(
        cv2.cvtColor(a, cv2.COLOR_BGR2GRAY),
        cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY),
        coverage,
        (cv2.cvtColor(a, cv2.COLOR_BGR2LAB), cv2.cvtColor(aligned, cv2.COLOR_BGR2LAB)),
    )
    changed_pixels = cv2.bitwise_and(changed_pixels, mask)
    changed_pixels = cv2.morphologyEx(changed_pixels, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    score = cv2.countNonZero(changed_pixels) / cv2.countNonZero(mask)

    written = None
    if out is not None:
        written = _side_by_side(a, aligned, difference, changed_pixels, mask, (x0, y0, x1, y1), score, threshold, out)
    return Comparison(
        score=float(score),
        changed=bool(score >= threshold),
        side_by_side=written,
        method=method,
        matches=matches,
        shift=(float(moved[0] / scale), float(moved[1] / scale)),
        threshold=threshold,
    )


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    """White text with a black outline, readable on any picture."""
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def _side_by_side(
    before: np.ndarray,
    aligned: np.ndarray,
    difference: np.ndarray,
    changed: np.ndarray,
    mask: np.ndarray,
    rect: tuple[int, int, int, int],
    score: float,
    threshold: float,
    out: Path,
) -> Path:
    heat = np.clip(difference / 2.0 * 255, 0, 255).astype(np.uint8)  # the threshold is at mid-scale
    heat[mask == 0] = 0
    colour = cv2.applyColorMap(heat, cv2.COLORMAP_JET)
    base = cv2.cvtColor(cv2.cvtColor(before, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    overlay = cv2.addWeighted(base, 0.45, colour, 0.55, 0)
    contours, _ = cv2.findContours(changed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(overlay, contours, -1, (0, 0, 255), 2)
    panels = []
    for title, image in (("before", before), ("after (aligned)", aligned), (f"change {score:.0%}", overlay)):
        panel = image.copy()
        cv2.rectangle(panel, rect[:2], (rect[2] - 1, rect[3] - 1), (0, 255, 255), 2)
        _label(panel, title, (10, 30), 0.8)
        panels.append(panel)
    gap = np.full((before.shape[0], 6, 3), 255, np.uint8)
    image = np.hstack([panels[0], gap, panels[1], gap, panels[2]])
    verdict = "CHANGED" if score >= threshold else "unchanged"
    _label(image, f"{verdict} (threshold {threshold:.0%})", (10, image.shape[0] - 12), 0.7)
    out.parent.mkdir(parents=True, exist_ok=True)
    target = out if out.suffix else out.with_suffix(".jpg")
    if not cv2.imwrite(str(target), image):
        raise EvidenceError(f"cannot write {target}")
    return target


__all__ = ["CHANGE_THRESHOLD", "Comparison", "compare"]
