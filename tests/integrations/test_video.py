"""Video evidence: motion events (the DVR-Scan sample and synthetic clips that pin down brightness changes and
variable frame rate), keyframes by seeking, browser-playable clips, and clear errors for bad inputs."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from integrations import video as v
from integrations.video import EvidenceError, Limits, Roi
from tests.conftest import needs_fixtures
from tests.evidence_media import (
    black_hole,
    brightness_ramp_frames,
    indexed_frames,
    moving_box_frames,
    read_index,
    serve_directory,
    write_video,
)

DVRSCAN_EVENTS = [(10, 148), (359, 490), (543, 575)]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The synthetic clips, made once for the module."""
    d = tmp_path_factory.mktemp("video")
    vfr_times = [i / 25 for i in range(50)] + [2 + i / 10 for i in range(60)]
    return {
        "box": write_video(d / "box.mp4", moving_box_frames()),
        "ramp": write_video(d / "ramp.mp4", brightness_ramp_frames()),
        "vfr": write_video(
            d / "vfr.mp4",
            moving_box_frames(times=vfr_times, moving=(4.0, 5.5)),
            setpts="if(lt(N,50),N/25,2+(N-50)/10)",
        ),
        "indexed": write_video(d / "indexed.mp4", indexed_frames(250), gop=50),
        "long": write_video(d / "long.mp4", indexed_frames(1500), gop=50),
        "odd": write_video(
            d / "odd.mp4", (f[:241, :321] for f in moving_box_frames(322, 242, seconds=1)), pix_fmt="yuv444p"
        ),
        "moov_last": write_video(d / "moov_last.mp4", indexed_frames(100), faststart=False),
    }


# ------------------------------------------------------------------------------------------------ motion


def test_dvrscan_traffic_camera_events_within_ten_frames() -> None:
    clip = needs_fixtures("video", "dvrscan_traffic_camera.mp4")
    result = v.motion(clip, "631,532,210,127")
    assert result.fps == pytest.approx(25.0) and result.frames == 576
    found = [(e.start_frame, e.end_frame) for e in result.events]
    assert len(found) == len(DVRSCAN_EVENTS), found
    for (start, end), (want_start, want_end) in zip(found, DVRSCAN_EVENTS, strict=True):
        assert abs(start - want_start) <= 10 and abs(end - want_end) <= 10, found
    first = result.events[0]
    assert first.start_s == pytest.approx(first.start_frame / 25, abs=1e-3)  # times are the frames' own


def test_a_moving_object_makes_one_event_from_its_start_to_two_seconds_after(media: dict[str, Path]) -> None:
    result = v.motion(media["box"])
    assert len(result.events) == 1
    event = result.events[0]
    assert event.start_s == pytest.approx(2.0, abs=0.2)
    assert event.end_s == pytest.approx(4.0 + 2.0, abs=0.25)
    assert result.as_dict()["events"][0].keys() == {"start_frame", "end_frame", "start_s", "end_s"}


def test_motion_outside_the_region_is_ignored(media: dict[str, Path]) -> None:
    assert v.motion(media["box"], Roi(0, 0, 120, 60)).events == []  # the box crosses the middle rows only


def test_a_global_brightness_change_is_not_motion(media: dict[str, Path]) -> None:
    assert v.motion(media["ramp"]).events == []


def test_variable_frame_rate_times_come_from_the_timestamps(media: dict[str, Path]) -> None:
    result = v.motion(media["vfr"])
    assert len(result.events) == 1
    event = result.events[0]
    # frame 70 is at 4.0 s; frame / average fps would say about 5 s
    assert event.start_s == pytest.approx(4.0, abs=0.15)
    assert abs(event.start_frame - 70) <= 2
    assert event.end_s == pytest.approx(5.5 + 2.0, abs=0.25)


def test_only_a_share_of_the_frames_is_analysed(media: dict[str, Path]) -> None:
    result = v.motion(media["box"])
    assert result.frames == 200 and result.analysed <= 70  # every frame decoded, one in three converted (25 fps)


def test_event_building_bridges_short_pauses_and_needs_consecutive_frames() -> None:
    cfg = v.MotionSettings(post_roll_s=1.0, min_frames=2)
    times = [i * 0.1 for i in range(100)]
    flags = [(i, t, i in {10, 11, 12, 20, 21, 50, 70, 71}) for i, t in enumerate(times)]
    events = v.build_events(flags, times, cfg)
    # 10-12 and 20-21 are one event (pause 0.8 s < 1 s); 50 alone is noise; 70-71 a second event
    assert [(e.start_frame, e.end_frame) for e in events] == [(10, 31), (70, 81)]


# ------------------------------------------------------------------------------------------------ keyframes


def test_keyframes_are_the_frames_at_the_asked_times(media: dict[str, Path], tmp_path: Path) -> None:
    frames = v.keyframes(media["indexed"], at_s=6.0, before_s=2.0, after_s=3.0, spacing_s=0.5)
    assert [f.target_s for f in frames] == [4.0 + 0.5 * i for i in range(11)]
    for frame in frames:
        assert abs(frame.time_s - frame.target_s) <= 0.02 + 1e-6  # the nearest frame (25 fps)
        assert read_index(frame.image) == frame.index == round(frame.time_s * 25)
    paths = v.write_keyframes(frames, tmp_path / "kf")
    sheet = v.contact_sheet(frames, tmp_path / "kf" / "sheet.jpg", at_s=6.0)
    assert all(p.stat().st_size > 1000 for p in paths) and len(paths) == 11
    grid = cv2.imread(str(sheet))
    assert grid is not None and grid.shape[1] > grid.shape[0]  # 5 columns x 3 rows


def test_keyframes_are_clamped_to_the_video(media: dict[str, Path]) -> None:
    frames = v.keyframes(media["indexed"], at_s=0.5, before_s=5.0, after_s=1.0)
    # -4.5 .. -0.5 s are before the video; 0.5 s is close enough to its start to stand for them
    assert [f.index for f in frames] == [12, 37]
    frames = v.keyframes(media["indexed"], at_s=2.0, before_s=5.0, after_s=0.0)
    assert [f.index for f in frames] == [0, 25, 50]  # -3 .. -1 s: the first frame stands in, once
    frames = v.keyframes(media["indexed"], at_s=9.0, before_s=1.0, after_s=5.0)
    assert frames[-1].index == 249 and read_index(frames[-1].image) == 249
    with pytest.raises(EvidenceError, match="outside the video"):
        v.keyframes(media["indexed"], at_s=100.0)


def test_keyframes_seek_instead_of_decoding_everything(media: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    grabs = 0
    real_grab = v.Video.grab

    def counting(self: v.Video) -> bool:
        nonlocal grabs
        grabs += 1
        return real_grab(self)

    monkeypatch.setattr(v.Video, "grab", counting)
    frames = v.keyframes(media["long"], at_s=50.0, before_s=5.0, after_s=9.0)
    assert len(frames) == 15 and [read_index(f.image) for f in frames] == [1125 + 25 * i for i in range(15)]
    assert grabs < 400  # of 1500 frames; the frames before 45 s are never decoded one by one


# ------------------------------------------------------------------------------------------------ clips


def test_a_clip_is_browser_playable_h264(media: dict[str, Path], tmp_path: Path) -> None:
    result = v.clip(media["indexed"], tmp_path / "c.mp4", 2.0, 4.0)
    info = v.stream_info(result.path)
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p" and info["faststart"] is True
    assert result.frames == 51 and result.start_s == pytest.approx(2.0) and result.end_s == pytest.approx(4.0)
    with v.Video(result.path) as out:
        assert out.grab()
        first = out.retrieve()
        assert first is not None and read_index(first) == 50


def test_odd_frame_sizes_are_cropped_to_even(media: dict[str, Path], tmp_path: Path) -> None:
    result = v.clip(media["odd"], tmp_path / "odd.mp4")
    info = v.stream_info(result.path)
    assert (info["width"], info["height"]) == (320, 240) and info["codec"] == "h264"


def test_a_transform_sees_every_frame_once(media: dict[str, Path], tmp_path: Path) -> None:
    seen: list[int] = []

    def invert(frames: object) -> object:
        for frame in frames:  # type: ignore[attr-defined]
            seen.append(read_index(frame))
            yield frame

    result = v.clip(media["indexed"], tmp_path / "t.mp4", 0.0, 1.0, transform=invert)
    assert seen == list(range(26)) and result.frames == 26


# ------------------------------------------------------------------------------------------------ bad inputs


def _bad_inputs(media: dict[str, Path], d: Path) -> dict[str, tuple[Path, str]]:
    empty = d / "empty.mp4"
    empty.touch()
    text = d / "notes.mp4"
    text.write_text("这不是视频 / not a video\n" * 50, encoding="utf-8")
    noise = d / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    data = media["indexed"].read_bytes()
    truncated = d / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 5])  # index first: opens, then the frames run out
    cut_index = d / "cut_index.mp4"
    cut_index.write_bytes(media["moov_last"].read_bytes()[:-2000])  # index last and cut off
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(data[:4000] + bytes(len(data) - 4000))  # header kept, every frame zeroed
    huge = d / "huge.mp4"
    with open(huge, "wb") as handle:  # sparse: 2 GiB + 1 byte that take no disk space
        handle.truncate(2 * 1024**3 + 1)
    return {
        "empty": (empty, "empty"),
        "text": (text, "not a readable video"),
        "noise": (noise, "not a readable video"),
        "truncated": (truncated, "truncated"),
        "cut_index": (cut_index, "not a readable video"),
        "corrupt": (corrupt, "corrupt|truncated|no decodable"),
        "huge": (huge, "over the 2.00 GiB limit"),
    }


@pytest.mark.parametrize("name", ["empty", "text", "noise", "truncated", "cut_index", "corrupt", "huge"])
def test_bad_inputs_are_clear_errors_and_quick(media: dict[str, Path], tmp_path: Path, name: str) -> None:
    path, message = _bad_inputs(media, tmp_path)[name]
    for call in (
        lambda: v.motion(path),
        lambda: v.keyframes(path, at_s=9.0, before_s=1.0, after_s=0.5),
        lambda: v.clip(path, tmp_path / "out.mp4", 8.0, 9.9),
    ):
        started = time.monotonic()
        with pytest.raises(EvidenceError, match=message) as caught:
            call()
        assert time.monotonic() - started < 10
        assert "\n" not in str(caught.value) and path.name in str(caught.value)


def test_missing_file_and_image_errors(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="no such file"):
        v.motion(tmp_path / "absent.mp4")
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    with pytest.raises(EvidenceError, match="not a readable image"):
        v.read_image(junk)


def test_duration_and_resolution_limits(media: dict[str, Path]) -> None:
    with pytest.raises(EvidenceError, match="limit"):
        v.probe(media["indexed"], Limits(max_duration_s=5.0))
    with pytest.raises(EvidenceError, match="resolution limit"):
        v.probe(media["indexed"], Limits(max_pixels=320 * 200))


def test_region_parsing() -> None:
    assert Roi.parse("631,532,210,127") == Roi(631, 532, 210, 127)
    assert Roi.parse("1 2 3 4") == Roi(1, 2, 3, 4)
    for bad in ("1,2,3", "a,b,c,d", "0,0,0,5", "-1,0,5,5"):
        with pytest.raises(EvidenceError, match="region"):
            Roi.parse(bad)
    with pytest.raises(EvidenceError, match="outside"):
        Roi(5000, 5000, 10, 10).clipped(1280, 720)


# ------------------------------------------------------------------------------------------------ sources


def test_http_sources_are_downloaded_with_limits(media: dict[str, Path], tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "clip.mp4").write_bytes(media["box"].read_bytes())
    with serve_directory(served) as base:
        path = v.fetch(f"{base}/clip.mp4", tmp_path / "dl")
        assert path.read_bytes() == media["box"].read_bytes() and path.suffix == ".mp4"
        assert v.probe(path).frames == 200
        with pytest.raises(EvidenceError, match="HTTP 404"):
            v.fetch(f"{base}/absent.mp4", tmp_path / "dl")
        with pytest.raises(EvidenceError, match=r"limit|refused"):
            v.fetch(f"{base}/clip.mp4", tmp_path / "dl", Limits(max_bytes=10_000))
        with pytest.raises(EvidenceError, match="limit"):
            v.fetch(f"{base}/huge", tmp_path / "dl")
        started = time.monotonic()
        with pytest.raises(EvidenceError, match="timed out"):
            v.fetch(f"{base}/stall", tmp_path / "dl", Limits(connect_timeout_s=0.3))
        assert time.monotonic() - started < 5


def test_local_paths_and_unknown_schemes(media: dict[str, Path], tmp_path: Path) -> None:
    assert v.fetch(str(media["box"]), tmp_path) == media["box"]
    assert v.fetch(f"file://{media['box']}", tmp_path) == media["box"]
    with pytest.raises(EvidenceError, match="unsupported source scheme"):
        v.fetch("ftp://user:secret@nvr/clip.mp4", tmp_path)
    try:
        v.fetch("ftp://user:secret@nvr/clip.mp4", tmp_path)
    except EvidenceError as exc:
        assert "secret" not in str(exc)  # credentials never reach messages or logs


def test_rtsp_that_never_answers_times_out(tmp_path: Path) -> None:
    limits = Limits(open_timeout_s=1.0, rtsp_record_s=1.0)
    with black_hole() as port:
        started = time.monotonic()
        with pytest.raises(EvidenceError, match=r"did not open|no frame"):
            v.fetch(f"rtsp://127.0.0.1:{port}/stream", tmp_path, limits)
        assert time.monotonic() - started < 8
    started = time.monotonic()
    with pytest.raises(EvidenceError):
        v.fetch("rtsp://127.0.0.1:9/none", tmp_path, limits)  # nothing listens on the discard port
    assert time.monotonic() - started < 8
