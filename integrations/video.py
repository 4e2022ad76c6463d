"""Video evidence with OpenCV: clip sources (file, HTTP(S), RTSP), keyframes by seeking, short browser-playable
H.264 clips, and motion events inside a region.

Every input is untrusted: a file from an NVR export, a URL named in an alarm, a camera stream. Each entry point
checks size, duration and resolution limits before decoding, every loop has a bound, and every failure is an
`EvidenceError` with a one-line message saying what was wrong, so that the caller marks that piece of evidence
failed and the case goes on.

OpenCV (the FFmpeg backend of opencv-contrib-python-headless) decodes. Its writer cannot make H.264 in these
wheels, so clips are encoded by the ffmpeg binary that the imageio-ffmpeg package ships, fed raw frames on a
pipe: libx264, yuv420p, `+faststart` (the index first, so a browser starts playing before the download ends).

Times are the decoder's presentation timestamps (CAP_PROP_POS_MSEC), never frame index / fps, so variable frame
rate footage (common with NVR exports and RTSP recordings) gets correct times.
"""

from __future__ import annotations

import math
import os
import queue
import re
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np

GiB = 1024**3
Frame = np.ndarray
FrameFilter = Callable[[Iterable[Frame]], Iterable[Frame]]

cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class EvidenceError(Exception):
    """An evidence input that cannot be used (unreadable, corrupt, too large, unreachable...). The message is
    one line that names the input and says what was wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class Limits:
    """Bounds on what one piece of evidence may cost. The defaults fit NVR exports of up to two hours."""

    max_bytes: int = 2 * GiB
    max_duration_s: float = 2 * 3600.0
    max_pixels: int = 7680 * 4320  # 8K; larger frames are refused before decoding
    connect_timeout_s: float = 10.0
    download_timeout_s: float = 300.0  # the whole HTTP download, not one read
    open_timeout_s: float = 15.0  # OpenCV/FFmpeg open and read timeouts (files and RTSP)
    rtsp_record_s: float = 15.0  # how long an RTSP grab records
    max_redirects: int = 5


DEFAULT_LIMITS = Limits()


# ------------------------------------------------------------------------------------------------ sources


def check_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> int:
    """The size of a local input file, after checking it exists, is a regular file and is within the limits."""
    name = path.name or str(path)
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise EvidenceError(f"{name}: no such file") from exc
    except OSError as exc:
        raise EvidenceError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise EvidenceError(f"{name}: not a regular file")
    if stat.st_size == 0:
        raise EvidenceError(f"{name}: empty file (0 bytes)")
    if stat.st_size > limits.max_bytes:
        raise EvidenceError(
            f"{name}: {stat.st_size / GiB:.2f} GiB is over the {limits.max_bytes / GiB:.2f} GiB limit for evidence"
        )
    return stat.st_size


def fetch(source: str | Path, dest_dir: Path, limits: Limits = DEFAULT_LIMITS, *, allow_local: bool = True) -> Path:
    """A local file for a clip or image source: a path (used in place), an http(s) URL (downloaded into
    dest_dir), or an rtsp(s) URL (rtsp_record_s seconds grabbed into an H.264 MP4 in dest_dir).

    A URL that arrived in an alarm is not trusted to name a local file: with allow_local=False only remote
    sources are accepted (a device must not be able to make the server read its own disk)."""
    text = str(source).strip()
    scheme = urlparse(text).scheme.lower() if "://" in text else ""
    if scheme in ("http", "https"):
        return download(text, dest_dir, limits)
    if scheme in ("rtsp", "rtsps"):
        return grab_rtsp(text, dest_dir / "rtsp-grab.mp4", limits)
    if not allow_local:
        raise EvidenceError(f"{_short(text)}: not an http(s) or rtsp URL; local files are not taken from alarms")
    if scheme == "file":
        text = urlparse(text).path
    elif scheme:
        raise EvidenceError(f"{_short(text)}: unsupported source scheme {scheme}:// (use a path, http(s) or rtsp)")
    path = Path(text).expanduser()
    check_file(path, limits)
    return path


_SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/mp2t": ".ts",
    "video/x-msvideo": ".avi",
}


def download(url: str, dest_dir: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Stream an http(s) URL into dest_dir, refusing it once it passes max_bytes or download_timeout_s."""
    import httpx

    dest_dir.mkdir(parents=True, exist_ok=True)
    timeout = httpx.Timeout(limits.connect_timeout_s, read=limits.connect_timeout_s * 3)
    deadline = time.monotonic() + limits.download_timeout_s
    suffix = Path(urlparse(url).path).suffix.lower()
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, max_redirects=limits.max_redirects) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise EvidenceError(f"{_short(url)}: HTTP {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise EvidenceError(
                    f"{_short(url)}: {int(declared) / GiB:.2f} GiB is over the {limits.max_bytes / GiB:.2f} GiB limit"
                )
            if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                suffix = _SUFFIXES.get(content_type, ".bin")
            fd, name = tempfile.mkstemp(prefix="download-", suffix=suffix, dir=dest_dir)
            path = Path(name)
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
                    if size > limits.max_bytes:
                        raise EvidenceError(f"{_short(url)}: more than {limits.max_bytes / GiB:.2f} GiB, refused")
                    if time.monotonic() > deadline:
                        raise EvidenceError(f"{_short(url)}: download took over {limits.download_timeout_s:.0f} s")
                    out.write(chunk)
    except httpx.TooManyRedirects as exc:
        raise EvidenceError(f"{_short(url)}: more than {limits.max_redirects} redirects") from exc
    except httpx.TimeoutException as exc:
        raise EvidenceError(f"{_short(url)}: timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise EvidenceError(f"{_short(url)}: download failed: {exc}") from exc
    if size == 0:
        raise EvidenceError(f"{_short(url)}: empty response (0 bytes)")
    return path


def grab_rtsp(url: str, out: Path, limits: Limits = DEFAULT_LIMITS) -> Path:
    """Record rtsp_record_s seconds of a camera stream into an H.264 MP4. The open and every read are bounded by
    open_timeout_s (FFmpeg's interrupt callback), and the whole grab by a wall-clock deadline."""
    timeout_ms = int(limits.open_timeout_s * 1000)
    cap = cv2.VideoCapture(
        url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms]
    )
    try:
        if not cap.isOpened():
            raise EvidenceError(f"{_short(url)}: stream did not open within {limits.open_timeout_s:.0f} s")
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if math.isfinite(fps) and 1.0 <= fps <= 120.0 else 25.0
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if width <= 0 or height <= 0 or width * height > limits.max_pixels:
            raise EvidenceError(f"{_short(url)}: unusable frame size {width}x{height}")
        wanted = int(limits.rtsp_record_s * fps)
        deadline = time.monotonic() + limits.rtsp_record_s + limits.open_timeout_s
        written = 0
        with H264Writer(out, width, height, fps) as writer:
            while written < wanted and time.monotonic() < deadline:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                writer.write(frame)
                written += 1
            if written == 0:
                writer.abort()
                raise EvidenceError(f"{_short(url)}: no frame received within {limits.open_timeout_s:.0f} s")
    finally:
        cap.release()
    return out


def _short(text: str, limit: int = 120) -> str:
    """A URL or path as it may appear in a message: one line, credentials removed, bounded length."""
    text = re.sub(r"://[^/@\s]*@", "://", " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------------ opening


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int
    height: int
    fps: float  # the container's nominal rate (an average for variable frame rate)
    frames: int  # as the container declares it (0 when unknown)
    duration_s: float
    codec: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "fps": round(self.fps, 3),
            "frames": self.frames,
            "duration_s": round(self.duration_s, 3),
            "codec": self.codec,
        }


class Video:
    """An opened, checked video file. The first frame has been decoded once to prove the file is a video; it is
    handed out again by the first `grab()`, so nothing is decoded twice."""

    def __init__(self, path: str | Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.path = Path(path)
        self.limits = limits
        check_file(self.path, limits)
        name = self.path.name
        timeout_ms = int(limits.open_timeout_s * 1000)
        self.cap = cv2.VideoCapture(
            str(self.path),
            cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
        )
        try:
            if not self.cap.isOpened():
                raise EvidenceError(f"{name}: not a readable video (corrupt, truncated, or not a video at all)")
            width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if width <= 0 or height <= 0:
                raise EvidenceError(f"{name}: no video stream")
            if width * height > limits.max_pixels:
                raise EvidenceError(f"{name}: {width}x{height} frames are over the resolution limit")
            fps = self.cap.get(cv2.CAP_PROP_FPS)
            fps = fps if math.isfinite(fps) and 0.1 <= fps <= 1000.0 else 0.0
            frames = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
            frames = int(frames) if math.isfinite(frames) and frames > 0 else 0
            duration = frames / fps if fps and frames else 0.0
            if duration > limits.max_duration_s:
                raise EvidenceError(
                    f"{name}: {duration / 3600:.2f} h is over the {limits.max_duration_s / 3600:.2f} h limit"
                )
            fourcc = int(self.cap.get(cv2.CAP_PROP_FOURCC))
            codec = "".join(chr((fourcc >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ") if fourcc > 0 else ""
            if not self.cap.grab():
                raise EvidenceError(f"{name}: no decodable frame (corrupt or truncated)")
            self._primed = True
            self.info = VideoInfo(str(self.path), width, height, fps or 25.0, frames, duration, codec)
        except BaseException:
            self.cap.release()
            raise

    # -- the capture, with the primed first frame handed out once

    def grab(self) -> bool:
        """Decode the next frame without converting it (cheap); False at the end or on a decoding failure."""
        if self._primed:
            self._primed = False
            return True
        return bool(self.cap.grab())

    def retrieve(self) -> Frame | None:
        ok, frame = self.cap.retrieve()
        return frame if ok else None

    def time_s(self) -> float:
        """The presentation time of the last grabbed frame."""
        return self.cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0

    def seek(self, seconds: float) -> bool:
        """Position so that the next grab() returns the first frame at or after `seconds` (FFmpeg seeks to the
        key frame before and decodes forward, so the result is frame-accurate)."""
        self._primed = False
        return bool(self.cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, seconds) * 1000.0))

    def grabbed_index(self) -> int:
        """The index of the frame just grabbed, as the decoder counts it (POS_FRAMES is the next one's)."""
        return int(self.cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1

    def close(self) -> None:
        self.cap.release()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> VideoInfo:
    with Video(path, limits) as video:
        return video.info


def read_image(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Frame:
    """A still image (JPEG, PNG, WebP...) as a BGR array, with the same checks as videos."""
    path = Path(path)
    check_file(path, limits)
    data = np.fromfile(str(path), dtype=np.uint8)
    header = cv2.imdecode(data[: 1 << 20], cv2.IMREAD_REDUCED_GRAYSCALE_8) if data.size > 1 << 20 else None
    if header is not None and header.shape[0] * header.shape[1] * 64 > limits.max_pixels:
        raise EvidenceError(f"{path.name}: image is over the resolution limit")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise EvidenceError(f"{path.name}: not a readable image (corrupt, truncated, or not an image)")
    if image.shape[0] * image.shape[1] > limits.max_pixels:
        raise EvidenceError(f"{path.name}: {image.shape[1]}x{image.shape[0]} is over the resolution limit")
    return image


def is_image(path: str | Path) -> bool:
    """Whether a file looks like a still image by its first bytes (JPEG, PNG, WebP, BMP, GIF)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head.startswith(b"BM")
        or head.startswith(b"GIF8")
    )


# ------------------------------------------------------------------------------------------------ keyframes


@dataclass
class Keyframe:
    index: int  # frame index in the video
    time_s: float  # its presentation time
    target_s: float  # the time that was asked for
    image: Frame = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "time_s": round(self.time_s, 3), "target_s": round(self.target_s, 3)}


MAX_KEYFRAMES = 600


def keyframe_times(at_s: float, before_s: float, after_s: float, spacing_s: float, duration_s: float) -> list[float]:
    """The wanted times: from at-before to at+after (both included) every spacing. Times outside the video are
    dropped; the video's first (last) frame stands in for them unless a kept time is within half a spacing."""
    if not (math.isfinite(spacing_s) and spacing_s > 0):
        raise EvidenceError("keyframe spacing must be a positive number of seconds")
    if before_s < 0 or after_s < 0:
        raise EvidenceError("keyframe window (before/after) must not be negative")
    count = math.floor((before_s + after_s) / spacing_s + 1e-9) + 1
    if count > MAX_KEYFRAMES:
        raise EvidenceError(f"{count} keyframes asked for; at most {MAX_KEYFRAMES} (raise the spacing)")
    wanted = [at_s - before_s + i * spacing_s for i in range(count)]
    end = duration_s if duration_s > 0 else math.inf
    inside = [t for t in wanted if 0.0 <= t <= end]
    if wanted[0] < 0 and (not inside or inside[0] > spacing_s / 2):
        inside.insert(0, 0.0)
    if wanted[-1] > end and (not inside or end - inside[-1] > spacing_s / 2):
        inside.append(end)
    return inside


def keyframes(
    video: str | Path,
    at_s: float,
    before_s: float = 5.0,
    after_s: float = 10.0,
    spacing_s: float = 1.0,
    *,
    seek_gap_s: float = 2.0,
    limits: Limits = DEFAULT_LIMITS,
) -> list[Keyframe]:
    """Frames every `spacing_s` from `at_s - before_s` to `at_s + after_s`, found by seeking.

    One seek lands on the first wanted frame (FFmpeg decodes from the key frame before it); the following ones
    are reached by grab() (decode without colour conversion) when they are less than `seek_gap_s` ahead, which
    for the usual 1-2 s camera GOP is cheaper than seeking again, and by a new seek otherwise. Only the wanted
    frames are converted to BGR. A wanted frame that cannot be read means a truncated or corrupt file.
    """
    with Video(video, limits) as clip:
        info = clip.info
        name = clip.path.name
        if not math.isfinite(at_s):
            raise EvidenceError("the moment (--at) must be a number of seconds")
        # last frame's time: the declared duration less one frame
        end = max(0.0, info.duration_s - 1.0 / info.fps) if info.duration_s else 0.0
        if info.duration_s and not (-before_s <= at_s <= info.duration_s + after_s):
            raise EvidenceError(f"{name}: {at_s:.2f} s is outside the video (0–{info.duration_s:.2f} s)")
        targets = keyframe_times(at_s, before_s, after_s, spacing_s, end)
        half = 0.5 / info.fps
        frames: list[Keyframe] = []
        current_t: float | None = None
        for target in targets:
            if current_t is None or target - current_t > seek_gap_s or target < current_t - half:
                if not clip.seek(target - half):
                    raise EvidenceError(f"{name}: cannot seek to {target:.2f} s")
                if not clip.grab():
                    raise EvidenceError(f"{name}: no frame at {target:.2f} s (truncated or corrupt)")
                current_t = clip.time_s()
            # step forward to the frame nearest the target; bounded by the frames the gap can hold
            steps = int((target - current_t) * info.fps * 2) + 4
            while current_t < target - half and steps > 0:
                if not clip.grab():
                    raise EvidenceError(f"{name}: no frame at {target:.2f} s (truncated or corrupt)")
                current_t = clip.time_s()
                steps -= 1
            image = clip.retrieve()
            if image is None:
                raise EvidenceError(f"{name}: frame at {target:.2f} s cannot be decoded")
            frames.append(Keyframe(clip.grabbed_index(), current_t, target, image))
        return frames


def write_keyframes(frames: list[Keyframe], out_dir: Path, prefix: str = "keyframe", quality: int = 90) -> list[Path]:
    """JPEG files named by order and time (keyframe_03_000012.00s.jpg)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = out_dir / f"{prefix}_{i:02d}_{frame.time_s:09.2f}s.jpg"
        if not cv2.imwrite(str(path), frame.image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise EvidenceError(f"cannot write {path}")
        paths.append(path)
    return paths


def contact_sheet(
    frames: list[Keyframe],
    path: Path,
    *,
    at_s: float | None = None,
    columns: int = 5,
    thumb_width: int = 320,
    quality: int = 88,
) -> Path:
    """A grid of thumbnails, each labelled with its time (and its offset from the moment when given)."""
    if not frames:
        raise EvidenceError("no keyframes for a contact sheet")
    h0, w0 = frames[0].image.shape[:2]
    thumb_h = max(1, round(thumb_width * h0 / w0))
    columns = max(1, min(columns, len(frames)))
    rows = math.ceil(len(frames) / columns)
    gap = 4
    sheet = np.full((rows * (thumb_h + gap) + gap, columns * (thumb_width + gap) + gap, 3), 32, np.uint8)
    scale = thumb_width / 640.0
    for i, frame in enumerate(frames):
        r, c = divmod(i, columns)
        thumb = cv2.resize(frame.image, (thumb_width, thumb_h), interpolation=cv2.INTER_AREA)
        label = f"{frame.time_s:.2f}s"
        if at_s is not None:
            label += f" ({frame.time_s - at_s:+.1f})"
        org = (6, thumb_h - 8)
        size = max(0.4, 0.9 * scale)
        cv2.putText(thumb, label, org, cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(thumb, label, org, cv2.FONT_HERSHEY_SIMPLEX, size, (255, 255, 255), 1, cv2.LINE_AA)
        y, x = gap + r * (thumb_h + gap), gap + c * (thumb_width + gap)
        sheet[y : y + thumb_h, x : x + thumb_width] = thumb
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise EvidenceError(f"cannot write {path}")
    return path


# ------------------------------------------------------------------------------------------------ H.264 clips


def ffmpeg_exe() -> str:
    """The ffmpeg binary shipped by imageio-ffmpeg (IMAGEIO_FFMPEG_EXE overrides it)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EvidenceError("the imageio-ffmpeg package is missing (pip install imageio-ffmpeg)") from exc
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise EvidenceError(f"no ffmpeg binary: {exc}") from exc


class H264Writer:
    """Raw BGR frames piped into ffmpeg: libx264, yuv420p, +faststart MP4 that browsers play. Odd frame sizes
    lose their last row/column (yuv420p needs even sizes)."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        fps: float,
        *,
        crf: int = 23,
        preset: str = "veryfast",
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height = width - width % 2, height - height % 2
        if self.width <= 0 or self.height <= 0:
            raise EvidenceError(f"frame size {width}x{height} cannot be encoded")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._log = tempfile.TemporaryFile()
        command = [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{self.width}x{self.height}",
            "-r",
            f"{fps:.6g}",
            "-i",
            "pipe:0",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-crf",
            str(crf),
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
        ]
        if threads:
            command += ["-threads", str(threads)]
        command.append(str(self.path))
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        self.frames = 0

    def write(self, frame: Frame) -> None:
        if frame.shape[0] < self.height or frame.shape[1] < self.width or frame.ndim != 3:
            raise EvidenceError(f"frame of shape {frame.shape} does not fit a {self.width}x{self.height} clip")
        view = frame[: self.height, : self.width]
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(np.ascontiguousarray(view).data)
        except (BrokenPipeError, OSError) as exc:
            raise EvidenceError(f"ffmpeg stopped encoding {self.path.name}: {self._errors()}") from exc
        self.frames += 1

    def close(self, timeout: float = 120.0) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.proc.kill()
            self.proc.wait()
            raise EvidenceError(f"ffmpeg did not finish {self.path.name} within {timeout:.0f} s") from exc
        finally:
            errors = self._errors()
            self._log.close()
        if code != 0:
            raise EvidenceError(f"ffmpeg failed on {self.path.name} (exit {code}): {errors}")
        if self.frames == 0:
            raise EvidenceError(f"no frames for {self.path.name}")

    def abort(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self.frames = -1  # makes the coming close() a no-op

    def _errors(self) -> str:
        try:
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return " ".join(text.split())[-300:]

    def __enter__(self) -> H264Writer:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self.frames < 0:
            return
        if exc_type is not None:
            self.abort()
            return
        self.close()


@dataclass(frozen=True)
class ClipResult:
    path: Path
    frames: int
    start_s: float
    end_s: float
    fps: float
    width: int
    height: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "frames": self.frames,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "fps": round(self.fps, 3),
            "width": self.width,
            "height": self.height,
        }


def clip(
    video: str | Path,
    out: Path,
    start_s: float = 0.0,
    end_s: float | None = None,
    *,
    transform: FrameFilter | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    limits: Limits = DEFAULT_LIMITS,
) -> ClipResult:
    """Frames from start_s to end_s (the whole video by default) re-encoded as browser-playable H.264 MP4.

    `transform` takes the iterable of BGR frames and yields the frames to write, one for one (it may look ahead,
    as the face redaction does); the clip is written at the source's nominal frame rate.
    """
    with Video(video, limits) as source:
        info = source.info
        end = end_s if end_s is not None else (info.duration_s or limits.max_duration_s)
        if end <= start_s:
            raise EvidenceError(f"empty clip window {start_s:.2f}–{end:.2f} s")
        if end - start_s > limits.max_duration_s:
            raise EvidenceError(f"clip window of {end - start_s:.0f} s is over the duration limit")
        if start_s > 0 and not source.seek(start_s):
            raise EvidenceError(f"{source.path.name}: cannot seek to {start_s:.2f} s")
        bound = int((end - start_s) * info.fps * 3) + 16  # generous for variable frame rate, still finite
        times: list[float] = []

        def frames() -> Iterator[Frame]:
            for _ in range(bound):
                if not source.grab():
                    return
                t = source.time_s()
                if t > end + 1e-6:
                    return
                image = source.retrieve()
                if image is None:
                    return
                times.append(t)
                yield image

        stream: Iterable[Frame] = frames()
        if transform is not None:
            stream = transform(stream)
        with H264Writer(out, info.width, info.height, info.fps, crf=crf, preset=preset) as writer:
            for image in stream:
                writer.write(image)
            if writer.frames == 0:
                writer.abort()
                raise EvidenceError(f"{source.path.name}: no frames between {start_s:.2f} and {end:.2f} s")
            written = writer.frames
        return ClipResult(
            out, written, times[0], times[-1], info.fps, info.width - info.width % 2, info.height - info.height % 2
        )


_STREAM = re.compile(
    r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+)[^,]*, (?P<pix>\w+)(?:\([^)]*\))?,.*?(?P<w>\d{2,5})x(?P<h>\d{2,5})"
)


def stream_info(path: str | Path) -> dict[str, Any]:
    """What ffmpeg says of a file's first video stream (codec, pix_fmt, size) and whether the MP4 index comes
    first (faststart): the checks a browser-playable clip must pass."""
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, timeout=30
    )
    match = _STREAM.search(result.stderr)
    if not match:
        raise EvidenceError(f"{Path(path).name}: ffmpeg finds no video stream")
    return {
        "codec": match["codec"],
        "pix_fmt": match["pix"],
        "width": int(match["w"]),
        "height": int(match["h"]),
        "faststart": mp4_faststart(Path(path)),
    }


def mp4_faststart(path: Path) -> bool | None:
    """True when the MP4 `moov` box precedes `mdat` (None when the file is not an MP4)."""
    try:
        with open(path, "rb") as handle:
            for _ in range(64):  # top-level boxes; a real file has a handful
                header = handle.read(8)
                if len(header) < 8:
                    return None
                size, kind = struct.unpack(">I4s", header)
                if kind == b"moov":
                    return True
                if kind == b"mdat":
                    return False
                if size == 1:
                    size = struct.unpack(">Q", handle.read(8))[0] - 8
                elif size == 0:
                    return None
                handle.seek(size - 8, os.SEEK_CUR)
    except (OSError, struct.error):
        return None
    return None


# ------------------------------------------------------------------------------------------------ motion


@dataclass(frozen=True)
class Roi:
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> Roi:
        parts = [p for p in re.split(r"[,\s]+", text.strip()) if p]
        if len(parts) != 4 or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise EvidenceError(f"region {text!r}: expected X,Y,W,H (four integers)")
        x, y, w, h = (int(p) for p in parts)
        if w <= 0 or h <= 0 or x < 0 or y < 0:
            raise EvidenceError(f"region {text!r}: x and y must not be negative, w and h must be positive")
        return cls(x, y, w, h)

    def clipped(self, width: int, height: int) -> Roi:
        """This region inside a width x height frame; an error when nothing of it is inside."""
        x0, y0 = min(max(self.x, 0), width), min(max(self.y, 0), height)
        x1, y1 = min(self.x + self.w, width), min(self.y + self.h, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise EvidenceError(f"region {self.x},{self.y},{self.w},{self.h} is outside the {width}x{height} frame")
        return Roi(x0, y0, x1 - x0, y1 - y0)


@dataclass
class MotionEvent:
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
        }


@dataclass
class MotionResult:
    events: list[MotionEvent]
    fps: float
    frames: int
    analysed: int
    duration_s: float
    seconds: float
    roi: Roi | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": [e.as_dict() for e in self.events],
            "fps": round(self.fps, 3),
            "frames": self.frames,
            "analysed": self.analysed,
            "duration_s": round(self.duration_s, 3),
            "seconds": round(self.seconds, 3),
            "roi": [self.roi.x, self.roi.y, self.roi.w, self.roi.h] if self.roi else None,
        }


@dataclass(frozen=True)
class MotionSettings:
    """The detector's knobs. Scores are the share of the (downscaled) region's pixels that differ from the
    learned background after per-frame brightness normalisation and a small morphological opening."""

    threshold: float = 0.02  # share of the region that must move
    min_frames: int = 2  # consecutive analysed frames above the threshold that start an event
    post_roll_s: float = 2.0  # an event stays open this long after the last motion (and so bridges short pauses)
    pre_roll_s: float = 0.0  # how much to start an event before its first moving frame
    sample_fps: float = 6.0  # analyse at least this many frames a second (0: every frame); all are decoded
    max_side: int = 128  # the region is downscaled to at most this many pixels on its longer side
    background_s: float = 8.0  # time constant of the background model
    var_threshold: float = 16.0  # MOG2's squared Mahalanobis distance for foreground


def motion(
    video: str | Path,
    roi: Roi | str | None = None,
    settings: MotionSettings | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
) -> MotionResult:
    """Motion events inside `roi` (the whole frame when None).

    Per analysed frame: the region is cropped first, turned grey, downscaled, blurred and normalised to a fixed
    mean and contrast (so a global brightness or exposure change moves no pixel relative to the others), then
    compared with a MOG2 background whose learning rate follows the frames' real time spacing (variable frame
    rate keeps the same time constant). Every frame is decoded by grab(), but only about `sample_fps` frames a
    second are converted (retrieve) and analysed: conversion is most of the cost beyond decoding, and people and
    vehicles do not come and go between two samples. Decoding runs in a thread of its own, so that it goes on while
    the previous frame is analysed (OpenCV releases the GIL in both). Times are presentation timestamps.
    """
    cfg = settings or MotionSettings()
    region = Roi.parse(roi) if isinstance(roi, str) else roi
    started = time.perf_counter()
    with Video(video, limits) as clip_:
        info = clip_.info
        box = region.clipped(info.width, info.height) if region else Roi(0, 0, info.width, info.height)
        scale = min(1.0, cfg.max_side / max(box.w, box.h))
        size = (max(8, round(box.w * scale)), max(8, round(box.h * scale)))
        # analyse a frame when 1/sample_fps has passed since the last one (less a frame, so that the rate is at
        # least sample_fps): by time, not by frame count, so a variable frame rate keeps its sampling rate
        interval = max(0.0, 1.0 / cfg.sample_fps - 1.0 / info.fps) if cfg.sample_fps > 0 else 0.0
        subtractor = cv2.createBackgroundSubtractorMOG2(
            history=500, varThreshold=cfg.var_threshold, detectShadows=False
        )
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        decoder = _RegionDecoder(clip_, box, size, interval, limits)
        analysed_flags: list[tuple[int, float, bool]] = []  # (frame index, time, moving) per analysed frame
        previous_t: float | None = None
        for index, t, small in decoder:
            normalised = _normalise(cv2.GaussianBlur(small, (3, 3), 0))
            if previous_t is None:
                subtractor.apply(normalised, learningRate=1.0)  # the first frame is the background
                previous_t = t
                continue
            dt = max(t - previous_t, 1e-3)
            previous_t = t
            rate = 1.0 - math.exp(-dt / cfg.background_s)
            mask = subtractor.apply(normalised, learningRate=rate)
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
            score = cv2.countNonZero(mask) / mask.size
            analysed_flags.append((index, t, score >= cfg.threshold))
        times = decoder.times
        frames = len(times)
        if info.frames and frames < 0.9 * info.frames:
            raise EvidenceError(
                f"{clip_.path.name}: decoded {frames} of {info.frames} frames (truncated or corrupt); no motion result"
            )
        events = build_events(analysed_flags, times, cfg)
        duration = times[-1] - times[0] if len(times) > 1 else 0.0
        return MotionResult(
            events,
            info.fps,
            frames,
            len(analysed_flags) + 1,
            duration,
            time.perf_counter() - started,
            box if region else None,
        )


class _RegionDecoder:
    """Iterates (frame index, time, grey downscaled region) over frames at least `interval` seconds apart, decoding
    in a thread.
    `times` collects every frame's time. Errors of the decoding thread are raised in the iterating one; leaving
    the iteration early stops the thread."""

    _END = object()

    def __init__(self, clip_: Video, box: Roi, size: tuple[int, int], interval: float, limits: Limits) -> None:
        self.clip, self.box, self.size, self.interval, self.limits = clip_, box, size, interval, limits
        self.times: list[float] = []
        self.error: BaseException | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=16)
        self._stop = threading.Event()

    def _decode(self) -> None:
        clip_, box, name = self.clip, self.box, self.clip.path.name
        scale_down = self.size != (box.w, box.h)
        max_frames = int(self.limits.max_duration_s * max(clip_.info.fps, 1.0) * 3) + 1000
        index = -1
        next_t: float | None = None
        try:
            while not self._stop.is_set() and clip_.grab():
                index += 1
                if index >= max_frames:
                    raise EvidenceError(f"{name}: more than {max_frames} frames, over the duration limit")
                t = clip_.time_s()
                self.times.append(t)
                if t > self.limits.max_duration_s:
                    raise EvidenceError(f"{name}: longer than the {self.limits.max_duration_s / 3600:.2f} h limit")
                if next_t is not None and t < next_t:
                    continue
                next_t = t + self.interval - 1e-6
                frame = clip_.retrieve()
                if frame is None:
                    break
                grey = cv2.cvtColor(frame[box.y : box.y + box.h, box.x : box.x + box.w], cv2.COLOR_BGR2GRAY)
                small = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA) if scale_down else grey
                self._put((index, t, small))
        except BaseException as exc:  # handed to the iterating thread
            self.error = exc
        finally:
            self._put(self._END)

    def _put(self, item: Any) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[tuple[int, float, Frame]]:
        worker = threading.Thread(target=self._decode, name="motion-decode", daemon=True)
        worker.start()
        try:
            while True:
                item = self._queue.get()
                if item is self._END:
                    break
                yield item
        finally:
            self._stop.set()
            worker.join()
        if self.error is not None:
            raise self.error


def _normalise(grey: Frame) -> Frame:
    """Remove the frame's overall brightness and contrast: mean 128 and a fixed spread, with a floor on the
    spread so that a flat, noisy picture is not blown up."""
    mean, std = cv2.meanStdDev(grey)
    gain = 32.0 / max(float(std[0][0]), 8.0)
    return cv2.convertScaleAbs(grey, alpha=gain, beta=128.0 - gain * float(mean[0][0]))


def build_events(analysed: list[tuple[int, float, bool]], times: list[float], cfg: MotionSettings) -> list[MotionEvent]:
    """Events from per-frame motion flags: an event starts at the first of `min_frames` consecutive moving
    analysed frames and lasts until `post_roll_s` after the last moving frame (a pause shorter than that does not
    end it), clamped to the video. Start and end frames are mapped back through the decoded frames' times."""
    spans: list[tuple[float, float, int]] = []  # (first moving time, last moving time, first moving index)
    run: list[tuple[int, float]] = []
    for index, t, hit in analysed:
        if not hit:
            run = []
            continue
        run.append((index, t))
        if len(run) < cfg.min_frames:
            continue
        first_index, first_t = run[0]
        if len(run) == cfg.min_frames:
            if spans and first_t - spans[-1][1] <= cfg.post_roll_s:
                spans[-1] = (spans[-1][0], t, spans[-1][2])
            else:
                spans.append((first_t, t, first_index))
        else:
            spans[-1] = (spans[-1][0], t, spans[-1][2])
    if not times:
        return []
    last_t = times[-1]
    events = []
    for first_t, last_moving_t, first_index in spans:
        start_t = max(times[0], first_t - cfg.pre_roll_s)
        start_index = first_index
        while start_index > 0 and times[start_index - 1] >= start_t - 1e-9:
            start_index -= 1
        end_t = min(last_t, last_moving_t + cfg.post_roll_s)
        end_index = _last_at_or_before(times, end_t)
        events.append(MotionEvent(start_index, end_index, times[start_index], times[end_index]))
    return events


def _last_at_or_before(times: list[float], t: float) -> int:
    """The index of the last frame whose time is <= t (times are increasing)."""
    import bisect

    return max(0, bisect.bisect_right(times, t + 1e-9) - 1)


__all__ = [
    "DEFAULT_LIMITS",
    "ClipResult",
    "EvidenceError",
    "H264Writer",
    "Keyframe",
    "Limits",
    "MotionEvent",
    "MotionResult",
    "MotionSettings",
    "Roi",
    "Video",
    "VideoInfo",
    "build_events",
    "check_file",
    "clip",
    "contact_sheet",
    "download",
    "fetch",
    "ffmpeg_exe",
    "grab_rtsp",
    "is_image",
    "keyframes",
    "motion",
    "probe",
    "read_image",
    "stream_info",
    "write_keyframes",
]
