"""`xueliang bench evidence`: the video evidence figures, measured in one run beside their anchors.

- keyframes: 15 keyframes (1 s apart) from a 60 s 1080p H.264 clip (testsrc2, 2 s GOP, generated once into
  var/bench/), target <= 1 s;
- motion: frames per second on DVR-Scan's own sample (../shared/fixtures/video/dvrscan_traffic_camera.mp4) with
  its region, against DVR-Scan 1.8 run on the same file in the same run (`dvr-scan -i FILE -so -roi 631 532 210
  127`, installed by this bench into its own virtual environment var/bench/dvrscan-venv, because DVR-Scan brings
  its own OpenCV distribution and two in one environment break cv2), and against a full decode by the ffmpeg
  binary (`ffmpeg -i FILE -f null -`), the physical limit; target >= 1.5x DVR-Scan with the same events;
- redaction: a 720p clip with faces (the faces fixtures moving over a street frame, generated once) decoded,
  faces detected, blurred and re-encoded to H.264, target >= 10 frames/s.

Each timing is the median of a few runs after a warm-up; every run's figure is kept in the output.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROI = (631, 532, 210, 127)
REFERENCE_EVENTS = [(10, 148), (359, 490), (543, 575)]  # dvrscan_traffic_camera.txt
DVR_SCAN_REQUIREMENT = "dvr-scan>=1.8,<1.9"
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


def _median_run(func: Callable[[], Any], runs: int = 3) -> tuple[list[float], Any]:
    """Warm up once, then time `runs` calls; (seconds of each timed run, last result)."""
    result = func()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return times, result


def _ffmpeg() -> str:
    from integrations.video import ffmpeg_exe

    return ffmpeg_exe()


def _ffmpeg_version() -> str:
    out = subprocess.run([_ffmpeg(), "-version"], capture_output=True, text=True, timeout=30).stdout
    return out.splitlines()[0] if out else "unknown"


# ------------------------------------------------------------------------------------------------ inputs


def keyframes_clip(folder: Path) -> Path:
    path = folder / "keyframes_1080p_60s.mp4"
    if not path.is_file():
        partial = path.with_suffix(".part.mp4")
        subprocess.run(
            [
                _ffmpeg(),
                "-hide_banner",
                "-loglevel",
                "error",
                "-nostdin",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1920x1080:rate=25:duration=60",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-g",
                "50",
                "-pix_fmt",
                "yuv420p",
                "-movflags",
                "+faststart",
                str(partial),
            ],
            check=True,
            timeout=900,
        )
        partial.rename(path)
    return path


def faces_clip(folder: Path) -> Path:
    """10 s of 720p at 25 fps: three fixture faces (180 px) bouncing across a street frame."""
    import cv2
    import numpy as np

    from integrations.video import H264Writer

    path = folder / "faces_720p_10s.mp4"
    if path.is_file():
        return path
    photos = sorted((FIXTURES / "faces").glob("*.jpg"))[:3]
    if len(photos) < 3:
        raise FileNotFoundError(f"{FIXTURES / 'faces'}: the faces fixtures are needed")
    patches = []
    for photo in photos:
        image = cv2.imread(str(photo))
        h, w = image.shape[:2]
        side = min(h, w)
        square = image[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        patches.append(cv2.resize(square, (180, 180), interpolation=cv2.INTER_AREA))
    street = FIXTURES / "video" / "dvrscan_traffic_camera.mp4"
    background = None
    if street.is_file():
        capture = cv2.VideoCapture(str(street))
        ok, frame = capture.read()
        capture.release()
        background = cv2.resize(frame, (1280, 720)) if ok else None
    if background is None:
        background = cv2.resize(np.random.default_rng(1).integers(40, 215, (45, 80, 3), np.uint8), (1280, 720))
    partial = path.with_suffix(".part.mp4")
    with H264Writer(partial, 1280, 720, 25.0, preset="medium") as writer:
        for i in range(250):
            frame = background.copy()
            for k, patch in enumerate(patches):
                span = 1280 - 200
                travel = (i * 4 + k * 360) % (2 * span)
                x = 10 + (travel if travel < span else 2 * span - travel)
                y = 20 + k * 250
                frame[y : y + 180, x : x + 180] = patch
            writer.write(frame)
    partial.rename(path)
    return path


# ------------------------------------------------------------------------------------------------ figures


def bench_keyframes(clip: Path, out: Path) -> dict[str, Any]:
    from integrations.video import contact_sheet, keyframes, write_keyframes

    def extract() -> Any:
        return keyframes(clip, at_s=30.0, before_s=5.0, after_s=9.0, spacing_s=1.0)

    times, frames = _median_run(extract)
    started = time.perf_counter()
    frames = extract()
    write_keyframes(frames, out)
    contact_sheet(frames, out / "contact_sheet.jpg", at_s=30.0)
    with_files = time.perf_counter() - started
    seconds = statistics.median(times)
    return {
        "seconds": round(seconds, 3),
        "runs": [round(t, 3) for t in times],
        "keyframes": len(frames),
        "with_jpegs_and_sheet_seconds": round(with_files, 3),
        "target_seconds": 1.0,
        "meets_target": seconds <= 1.0,
    }


def dvr_scan_venv(folder: Path) -> Path:
    """DVR-Scan in its own environment (its OpenCV must not meet ours); created on first use with this
    machine's python3.11 and pip."""
    venv = folder / "dvrscan-venv"
    exe = venv / "bin" / "dvr-scan"
    if exe.is_file():
        return exe
    python = shutil.which("python3.11") or getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", DVR_SCAN_REQUIREMENT],
        check=True,
        timeout=900,
        stdout=subprocess.DEVNULL,
    )
    return exe


def _timecode(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def run_dvr_scan(exe: Path, clip: Path, fps: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xueliang-dvrscan-") as tmp:
        command = [str(exe.resolve()), "-i", str(clip.resolve()), "-so", "-roi", *map(str, ROI)]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp)
        wall = time.perf_counter() - started
    output = done.stdout + "\n" + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"dvr-scan exited {done.returncode}: {output[-500:]}")
    rate = re.search(r"avg ([\d.]+) FPS", output)
    codes = re.findall(r"\d\d:\d\d:\d\d\.\d+", output.split("Comma-separated timecode values", 1)[-1])
    times = [_timecode(c) for c in codes]
    events = [
        {"start_frame": round(a * fps), "end_frame": round(b * fps), "start_s": a, "end_s": b}
        for a, b in zip(times[::2], times[1::2], strict=False)
    ]
    return {"fps": float(rate.group(1)) if rate else None, "wall_seconds": round(wall, 3), "events": events}


def ffmpeg_decode(clip: Path, frames: int, rounds: int = 3) -> dict[str, Any]:
    """A full decode by the ffmpeg binary to nowhere; its own `-benchmark` real time (no process start-up)."""
    times = []
    for _ in range(rounds):
        done = subprocess.run(
            [_ffmpeg(), "-hide_banner", "-nostdin", "-benchmark", "-i", str(clip), "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        found = re.search(r"rtime=([\d.]+)s", done.stderr)
        if found:
            times.append(float(found.group(1)))
    if not times:
        raise RuntimeError("ffmpeg -benchmark printed no rtime")
    best = min(times)
    return {
        "fps": round(frames / best, 1),
        "seconds": round(best, 3),
        "runs": [round(t, 3) for t in times],
        "command": f"ffmpeg -benchmark -i {clip.name} -f null -",
    }


def bench_motion(clip: Path, folder: Path, rounds: int = 5) -> dict[str, Any]:
    """Ours and DVR-Scan's, interleaved round by round (a busy machine slows both alike), then the decode limit."""
    from integrations.video import Roi, motion

    region = Roi(*ROI)
    result = motion(clip, region)  # warm-up: file cache, codec initialisation
    frames = result.frames
    ours = [(e.start_frame, e.end_frame) for e in result.events]
    deviation = (
        max(max(abs(a - c), abs(b - d)) for (a, b), (c, d) in zip(ours, REFERENCE_EVENTS, strict=True))
        if len(ours) == len(REFERENCE_EVENTS)
        else None
    )
    try:
        exe: Path | None = dvr_scan_venv(folder)
        skipped = None
    except (OSError, subprocess.SubprocessError) as exc:
        exe, skipped = None, f"{type(exc).__name__}: {str(exc)[:300]}"
    our_rates: list[float] = []
    their_runs: list[dict[str, Any]] = []
    for _ in range(rounds):
        if exe is not None:
            try:
                their_runs.append(run_dvr_scan(exe, clip, result.fps))
            except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
                exe, skipped = None, f"{type(exc).__name__}: {str(exc)[:300]}"
        started = time.perf_counter()
        result = motion(clip, region)
        our_rates.append(frames / (time.perf_counter() - started))
    fps = statistics.median(our_rates)
    figures: dict[str, Any] = {
        "fps": round(fps, 1),
        "runs_fps": [round(r, 1) for r in our_rates],
        "frames": frames,
        "analysed_frames": result.analysed,
        "events": [e.as_dict() for e in result.events],
        "reference_events": [{"start_frame": a, "end_frame": b} for a, b in REFERENCE_EVENTS],
        "max_frame_deviation": deviation,
        "matches_reference": deviation is not None and deviation <= 10,
    }
    rates = [r["fps"] for r in their_runs if r["fps"]]
    if rates:
        dvr_fps = statistics.median(rates)
        theirs = [(e["start_frame"], e["end_frame"]) for e in their_runs[-1]["events"]]
        figures["dvr_scan_fps"] = round(dvr_fps, 1)
        figures["vs_dvr_scan"] = round(fps / dvr_fps, 2)
        figures["vs_dvr_scan_by_round"] = [round(o / t, 2) for o, t in zip(our_rates, rates, strict=False)]
        figures["dvr_scan"] = {
            "version_requirement": DVR_SCAN_REQUIREMENT,
            "command": f"dvr-scan -i {clip.name} -so -roi {' '.join(map(str, ROI))}",
            "runs_fps": rates,
            "wall_seconds": [r["wall_seconds"] for r in their_runs],
            "events": their_runs[-1]["events"],
            "note": "DVR-Scan 1.8 starts its events about 1.5 s earlier than the reference list shipped with its "
            "sample (its default time-before-event); the ends agree",
        }
        figures["same_event_count_as_dvr_scan"] = len(theirs) == len(ours)
        figures["end_frame_deviation_from_dvr_scan"] = (
            max(abs(b - d) for (_, b), (_, d) in zip(ours, theirs, strict=True)) if len(theirs) == len(ours) else None
        )
    else:
        figures["dvr_scan_fps"] = None
        figures["vs_dvr_scan"] = None
        figures["dvr_scan"] = {"skipped": skipped or "no rate in DVR-Scan's output"}
    figures["ffmpeg_decode_fps"] = None
    try:
        decode = ffmpeg_decode(clip, frames)
        figures["ffmpeg_decode_fps"] = decode["fps"]
        figures["ffmpeg_decode"] = decode
        figures["share_of_ffmpeg_decode"] = round(fps / decode["fps"], 2)
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        figures["ffmpeg_decode"] = {"skipped": str(exc)[:300]}
    return figures


def bench_redaction(clip: Path, out: Path) -> dict[str, Any]:
    from integrations.faces import get_detector, redact_video
    from integrations.video import probe

    get_detector()  # model loading is not part of the per-frame cost
    results = []
    for _ in range(2):
        started = time.perf_counter()
        result = redact_video(clip, out, every=5)
        results.append((time.perf_counter() - started, result))
    seconds, result = min(results, key=lambda r: r[0])
    frames = len(result.frames)
    info = probe(clip)
    return {
        "fps": round(frames / seconds, 1),
        "runs_fps": [round(len(r.frames) / t, 1) for t, r in results],
        "frames": frames,
        "width": info.width,
        "height": info.height,
        "detect_every": 5,
        "detections": result.detections,
        "max_faces": result.max_faces,
        "face_tracks": result.tracks,
        "target_fps": 10.0,
        "meets_target": frames / seconds >= 10.0,
    }


def run(settings: Any = None, folder: Path | None = None) -> dict[str, Any]:
    import cv2

    from xueliang.benchkit import machine_info

    bench = folder or Path.cwd() / "var" / "bench"
    bench.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="xueliang-bench-evidence-") as tmp:
        work = Path(tmp)
        clip = keyframes_clip(bench)
        inputs["keyframes"] = {
            "clip": str(clip),
            "made_with": "ffmpeg testsrc2 1920x1080 25 fps 60 s, libx264 veryfast, GOP 50",
            "at_s": 30.0,
            "window": "-5 s .. +9 s every 1 s",
        }
        results["keyframes"] = bench_keyframes(clip, work / "keyframes")

        sample = FIXTURES / "video" / "dvrscan_traffic_camera.mp4"
        inputs["motion"] = {"clip": str(sample), "roi": list(ROI)}
        if sample.is_file():
            results["motion"] = bench_motion(sample, bench)
        else:
            results["motion"] = {"skipped": f"{sample} is absent"}

        try:
            faces = faces_clip(bench)
            inputs["redaction"] = {"clip": str(faces), "made_with": "3 faces fixtures (180 px) over a street frame"}
            results["redaction"] = bench_redaction(faces, work / "redacted.mp4")
        except FileNotFoundError as exc:
            results["redaction"] = {"skipped": str(exc)}
    try:
        import deepface

        deepface_version = deepface.__version__
    except Exception:  # the figure is informative only
        deepface_version = None
    return {
        "machine": {
            **machine_info(),
            "opencv": cv2.__version__,
            "ffmpeg": _ffmpeg_version(),
            "deepface": deepface_version,
        },
        "inputs": inputs,
        "results": results,
    }
