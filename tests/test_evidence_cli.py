"""`xueliang evidence keyframes|motion|faces|compare`: the JSON shapes of CONTRACT.md, files written, and one-line
errors with a non-zero exit for bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import pytest

import xueliang.cli as cli
from tests.conftest import needs_fixtures
from tests.evidence_media import (
    face_patch,
    faces_frames,
    indexed_frames,
    shifted_and_relit,
    street_scene,
    with_garbage,
    write_video,
)
from xueliang.evidence_cli import register


def _parser() -> argparse.ArgumentParser:
    """The real parser; the evidence verbs registered the way build_parser registers them, if it does not yet."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "evidence" not in sub.choices:

        def add(parent: Any, name: str, func: Any, help_text: str, json_flag: bool = True) -> argparse.ArgumentParser:
            p: argparse.ArgumentParser = parent.add_parser(name, help=help_text, description=help_text)
            p.set_defaults(func=func)
            if json_flag:
                p.add_argument("--json", action="store_true", help="one JSON document on stdout")
            return p

        register(sub, add)
    return parser


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """As `xueliang ARGV` would: (exit code, stdout, stderr)."""
    args = _parser().parse_args(argv)
    app = cli.App()
    code = 0
    try:
        args.func(app, args)
    except cli.CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.code
    finally:
        app.close()
    out, err = capsys.readouterr()
    return code, out, err


def test_motion_json(capsys: pytest.CaptureFixture[str]) -> None:
    clip = needs_fixtures("video", "dvrscan_traffic_camera.mp4")
    code, out, _ = run(["evidence", "motion", str(clip), "--roi", "631,532,210,127", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and {"events", "fps", "frames"} <= set(result)
    assert result["frames"] == 576 and len(result["events"]) == 3
    assert set(result["events"][0]) == {"start_frame", "end_frame", "start_s", "end_s"}


def test_keyframes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_video(tmp_path / "c.mp4", indexed_frames(200))
    code, out, _ = run(
        ["evidence", "keyframes", str(clip), "--at", "4", "--out", str(tmp_path / "k"), "--json"], capsys
    )
    result = json.loads(out)
    assert code == 0 and len(result["keyframes"]) == 9  # -5 s .. +10 s inside an 8 s clip: 0, 1 .. 7, 7.96 s
    assert all(Path(k["path"]).is_file() for k in result["keyframes"]) and Path(result["contact_sheet"]).is_file()


def test_faces_of_a_photo_and_a_video(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = needs_fixtures("faces", "img50.jpg")
    code, out, _ = run(["evidence", "faces", str(photo), "--out", str(tmp_path / "b.jpg"), "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and len(result["faces"]) == 1 and result["redacted"] == str(tmp_path / "b.jpg")
    assert set(result["faces"][0]) == {"x", "y", "w", "h", "confidence"} and (tmp_path / "b.jpg").is_file()

    code, out, _ = run(["evidence", "faces", str(photo), "--json"], capsys)
    assert code == 0 and json.loads(out)["redacted"] is None

    clip = write_video(
        tmp_path / "people.mp4", faces_frames([face_patch(photo, 120)], 480, 270, seconds=1.0, fps=10.0), fps=10.0
    )
    code, out, _ = run(["evidence", "faces", str(clip), "--out", str(tmp_path / "r.mp4"), "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and len(result["faces"]) == 10 and all(len(frame) == 1 for frame in result["faces"])
    assert result["total"] == 10 and result["redacted"] == str(tmp_path / "r.mp4")


def test_compare_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = street_scene()
    before, after = tmp_path / "before.jpg", tmp_path / "after.jpg"
    cv2.imwrite(str(before), with_garbage(scene, (300, 250, 160, 120)))
    cv2.imwrite(str(after), shifted_and_relit(scene))
    code, out, _ = run(["evidence", "compare", str(before), str(after), "--roi", "280,230,200,160", "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["changed"] is True and 0 <= result["score"] <= 1
    assert Path(result["side_by_side"]).is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["evidence", "motion", "{text}"],
        ["evidence", "motion", "{absent}", "--json"],
        ["evidence", "motion", "{clip}", "--roi", "1,2,3"],
        ["evidence", "keyframes", "{clip}", "--at", "500", "--out", "{tmp}"],
        ["evidence", "faces", "{text}"],
        ["evidence", "faces", "{photo}", "--detector", "yunet"],
        ["evidence", "compare", "{text}", "{photo}"],
    ],
)
def test_bad_input_is_one_line_on_stderr(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))  # no detector weights here
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    clip = write_video(tmp_path / "c.mp4", indexed_frames(10))
    photo = needs_fixtures("faces", "img5.jpg")
    names = {"text": text, "absent": tmp_path / "absent.mp4", "clip": clip, "photo": photo, "tmp": tmp_path / "o"}
    code, out, err = run([a.format(**names) for a in argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
