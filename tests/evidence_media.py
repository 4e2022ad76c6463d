"""Synthetic media for the evidence tests: small videos written by the same ffmpeg binary the product uses, so
the tests need nothing but the package's dependencies (and ../shared/fixtures for the real samples)."""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from integrations.video import ffmpeg_exe


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    *,
    setpts: str | None = None,
    gop: int | None = None,
    faststart: bool = True,
    pix_fmt: str = "yuv420p",
) -> Path:
    """H.264 MP4 from BGR frames. `setpts` is an ffmpeg expression (in seconds, N = frame number) giving each
    frame its own time, which makes a variable frame rate file."""
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    command += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0"]
    if setpts:
        command += ["-vf", f"settb=1/1000,setpts='({setpts})/TB'", "-fps_mode", "vfr"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", pix_fmt]
    if gop:
        command += ["-g", str(gop)]
    if faststart:
        command += ["-movflags", "+faststart"]
    command.append(str(path))
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    for frame in [first, *frames]:
        proc.stdin.write(np.ascontiguousarray(frame).tobytes())
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode() if proc.stderr else ""
    return path


def textured_background(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A static scene with structure at several scales (so normalisation and alignment have something to hold)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 215, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 12, size=(height, width, 1))
    return np.clip(image.astype(np.float32) + fine, 0, 255).astype(np.uint8)


def noisy(frame: np.ndarray, rng: np.random.Generator, sigma: float = 4.0) -> np.ndarray:
    return np.clip(frame.astype(np.float32) + rng.normal(0, sigma, (*frame.shape[:2], 1)), 0, 255).astype(np.uint8)


def moving_box_frames(
    width: int = 320,
    height: int = 240,
    seconds: float = 8.0,
    fps: float = 25.0,
    moving: tuple[float, float] = (2.0, 4.0),
    box: int = 40,
    times: list[float] | None = None,
) -> Iterator[np.ndarray]:
    """A rectangle crossing a noisy textured scene while moving[0] <= t < moving[1]; still scene otherwise.
    `times` gives each frame's time instead of a fixed rate."""
    rng = np.random.default_rng(7)
    background = textured_background(width, height)
    ts = times if times is not None else [i / fps for i in range(int(seconds * fps))]
    for t in ts:
        frame = noisy(background, rng)
        if moving[0] <= t < moving[1]:
            progress = (t - moving[0]) / (moving[1] - moving[0])
            x = int(progress * (width - box))
            y = height // 2 - box // 2
            cv2.rectangle(frame, (x, y), (x + box, y + box), (20, 220, 250), -1)
        yield frame


def brightness_ramp_frames(
    width: int = 320, height: int = 240, seconds: float = 6.0, fps: float = 25.0
) -> Iterator[np.ndarray]:
    """A still scene whose exposure changes a lot (gain 0.45 -> 1.35 and an offset), with sensor noise and no
    motion at all: a cloud passing, auto-exposure, dusk lights."""
    rng = np.random.default_rng(3)
    background = textured_background(width, height).astype(np.float32)
    count = int(seconds * fps)
    for i in range(count):
        phase = i / max(count - 1, 1)
        gain = 0.45 + 0.9 * phase if phase < 0.7 else 1.35 - 1.5 * (phase - 0.7)
        frame = background * gain + 10 * phase
        yield noisy(np.clip(frame, 0, 255).astype(np.uint8), rng, 3.0)


def face_patch(path: Path, size: int) -> np.ndarray:
    """A fixture photo cut down to its central square and resized (the face fills most of it)."""
    image = cv2.imread(str(path))
    assert image is not None, path
    h, w = image.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)


def faces_frames(
    patches: list[np.ndarray],
    width: int = 640,
    height: int = 360,
    seconds: float = 2.0,
    fps: float = 25.0,
    positions: list[list[tuple[int, int]]] | None = None,
    background: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """Photos moving across a scene (3 px a frame, bouncing off the sides); `positions`, when given, receives
    each frame's top-left corner of every patch."""
    scene = background if background is not None else textured_background(width, height, seed=5)
    count = int(seconds * fps)
    for i in range(count):
        frame = scene.copy()
        corners = []
        for k, patch in enumerate(patches):
            size = patch.shape[0]
            span = max(1, width - size - 20)
            travel = (i * 3 + k * span // max(len(patches), 1)) % (2 * span)
            x = 10 + (travel if travel < span else 2 * span - travel)
            y = 10 + (k * (height - size - 20) // (len(patches) - 1) if len(patches) > 1 else 0)
            y = min(y, height - size - 1)
            frame[y : y + size, x : x + size] = patch
            corners.append((x, y))
        if positions is not None:
            positions.append(corners)
        yield frame


BITS = 12


def indexed_frames(count: int, width: int = 320, height: int = 240) -> Iterator[np.ndarray]:
    """Frames that carry their own index as a row of black/white 16-pixel blocks (survives H.264)."""
    background = textured_background(width, height, seed=11)
    for i in range(count):
        frame = background.copy()
        for bit in range(BITS):
            value = 255 if (i >> bit) & 1 else 0
            frame[0:16, bit * 16 : bit * 16 + 16] = value
        yield frame


def read_index(frame: np.ndarray) -> int:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return sum(1 << bit for bit in range(BITS) if grey[4:12, bit * 16 + 4 : bit * 16 + 12].mean() > 128)


class _Handler(http.server.SimpleHTTPRequestHandler):
    stall_s = 30.0

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/stall"):  # answers nothing for a long time: a hung NVR
            time.sleep(self.stall_s)
            return
        if self.path.startswith("/huge"):  # claims more than any limit
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(50 * 1024**3))
            self.end_headers()
            return
        super().do_GET()


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving `directory` (plus /stall and /huge), in a thread; yields its base
    URL."""
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def black_hole() -> Iterator[int]:
    """A TCP port that accepts connections and never says anything (a camera that hangs)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def street_scene(width: int = 800, height: int = 600, seed: int = 2) -> np.ndarray:
    """A synthetic view with plenty of corners: shapes and lines on a gradient."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = np.linspace(80, 180, height, dtype=np.uint8)[:, None, None] * np.array([1, 0, 0], np.uint8)
    image[:, :, 1] = 90
    image[:, :, 2] = 120
    for _ in range(120):
        x, y, s = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(10, 70))
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + s, y + s // 2), colour, -1)
        else:
            cv2.circle(image, (x, y), s // 2, colour, -1)
    for _ in range(40):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, p1, p2, (255, 255, 255), 2)
    return image


def with_garbage(image: np.ndarray, rect: tuple[int, int, int, int], seed: int = 9) -> np.ndarray:
    """A heap of coloured rubbish drawn into the rectangle."""
    rng = np.random.default_rng(seed)
    x, y, w, h = rect
    out = image.copy()
    blocks = rng.integers(0, 255, (h // 6 + 1, w // 6 + 1, 3), dtype=np.uint8)
    out[y : y + h, x : x + w] = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST)
    return out


def shifted_and_relit(
    image: np.ndarray,
    dx: float = 5,
    dy: float = -3,
    angle: float = 0.4,
    gain: float = 1.3,
    offset: float = 15,
    seed: int = 4,
) -> np.ndarray:
    """The same view a few pixels off, slightly turned, under other light, with sensor noise."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    matrix[0, 2] += dx
    matrix[1, 2] += dy
    moved = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
    rng = np.random.default_rng(seed)
    lit = moved.astype(np.float32) * gain + offset + rng.normal(0, 3, moved.shape)
    return np.clip(lit, 0, 255).astype(np.uint8)
