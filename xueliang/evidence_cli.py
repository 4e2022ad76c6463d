"""`xueliang evidence …`: the evidence tools of CONTRACT.md on local files (keyframes, motion, faces, compare).

Registered by xueliang.cli.build_parser through `register(sub, add)`. OpenCV and DeepFace are imported only when
a verb runs, so the rest of the command line stays quick to start. Any unusable input is one `error:` line on
stderr and exit code 2 (CliError).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xueliang.cli as cli

if TYPE_CHECKING:
    from xueliang.cli import App


def _roi(text: str | None) -> Any:
    if text is None:
        return None
    from integrations.video import Roi

    return Roi.parse(text)


def _guard(func: Callable[[App, argparse.Namespace], None]) -> Callable[[App, argparse.Namespace], None]:
    """EvidenceError (and unparseable numbers) become one-line CLI errors."""

    def run(app: App, args: argparse.Namespace) -> None:
        from integrations.video import EvidenceError

        try:
            func(app, args)
        except EvidenceError as exc:
            raise cli.CliError(str(exc), 2) from exc

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


@_guard
def cmd_keyframes(app: App, args: argparse.Namespace) -> None:
    from integrations.video import contact_sheet, keyframes, write_keyframes

    frames = keyframes(args.video, args.at, args.before, args.after, args.spacing)
    out = Path(args.out)
    faces: list[int] = []
    if args.redact:
        from integrations.faces import get_detector, obscure

        detector = get_detector(args.detector)
        for frame in frames:
            found = detector.detect(frame.image)
            faces.append(len(found))
            obscure(frame.image, found)
    paths = write_keyframes(frames, out)
    sheet = contact_sheet(frames, out / "contact_sheet.jpg", at_s=args.at)
    result = {
        "video": args.video,
        "at": args.at,
        "keyframes": [{**f.as_dict(), "path": str(p)} for f, p in zip(frames, paths, strict=True)],
        "contact_sheet": str(sheet),
        "redacted": bool(args.redact),
        "faces": faces if args.redact else None,
    }
    if args.json:
        cli.emit(result)
    else:
        for frame, path in zip(frames, paths, strict=True):
            print(f"{frame.time_s:9.2f}s  frame {frame.index:>6}  {path}")
        print(f"contact sheet: {sheet}")


@_guard
def cmd_motion(app: App, args: argparse.Namespace) -> None:
    from integrations.video import MotionSettings, motion

    settings = MotionSettings(threshold=args.threshold) if args.threshold is not None else None
    result = motion(args.video, _roi(args.roi), settings)
    if args.json:
        cli.emit(result.as_dict())
        return
    print(f"{result.frames} frames at {result.fps:.3f} fps, {len(result.events)} motion event(s)")
    for i, e in enumerate(result.events, 1):
        print(f"  {i:>3}  frames {e.start_frame:>6}–{e.end_frame:<6}  {e.start_s:9.2f}s – {e.end_s:9.2f}s")


@_guard
def cmd_faces(app: App, args: argparse.Namespace) -> None:
    from integrations.faces import get_detector, redact_image, redact_video
    from integrations.video import EvidenceError, check_file, is_image

    source = Path(args.input)
    check_file(source)
    if is_image(source):
        result = redact_image(source, args.out, args.detector)
        view = result.as_dict()
        if args.json:
            cli.emit(view)
            return
        print(f"{len(result.faces)} face(s)" + (f"; blurred copy: {result.path}" if result.path else ""))
        for box in result.faces:
            print(f"  x={box.x} y={box.y} w={box.w} h={box.h} confidence={box.confidence:.2f}")
        return
    if args.out is None:
        # counting without writing: the same pass, into a scratch file that is thrown away
        import tempfile

        with tempfile.TemporaryDirectory(prefix="xueliang-faces-") as tmp:
            video = redact_video(source, Path(tmp) / "redacted.mp4", args.detector, every=args.every)
        view = {**video.as_dict(), "redacted": None}
    else:
        get_detector(args.detector)  # fail on a missing detector before decoding anything
        out = Path(args.out)
        if out.suffix.lower() != ".mp4":
            raise EvidenceError(f"{out}: the redacted copy of a video is an H.264 .mp4 file")
        video = redact_video(source, out, args.detector, every=args.every)
        view = video.as_dict()
    if args.json:
        cli.emit(view)
        return
    print(
        f"{view['frames']} frames, {view['total']} face boxes, at most {view['max_faces']} face(s) in a frame, "
        f"{view['tracks']} face track(s)" + (f"; blurred copy: {view['redacted']}" if view["redacted"] else "")
    )


@_guard
def cmd_compare(app: App, args: argparse.Namespace) -> None:
    from integrations.compare import compare

    out = Path(args.out) if args.out else Path(args.after).with_name(Path(args.after).stem + "_compare.jpg")
    result = compare(args.before, args.after, _roi(args.roi), out)
    if args.json:
        cli.emit(result.as_dict())
        return
    verdict = "changed" if result.changed else "unchanged"
    print(f"score {result.score:.3f} ({verdict}, threshold {result.threshold}); aligned by {result.method}")
    print(f"side by side: {result.side_by_side}")


def register(sub: argparse._SubParsersAction, add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `evidence keyframes|motion|faces|compare` to the top-level subparsers."""
    evidence = sub.add_parser("evidence", help="video and photo evidence tools").add_subparsers(
        dest="evidence_command", required=True
    )
    p = add(evidence, "keyframes", cmd_keyframes, "keyframes around a moment, and a contact sheet")
    p.add_argument("video")
    p.add_argument("--at", type=float, required=True, metavar="SECONDS", help="the moment, in seconds into the video")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--before", type=float, default=5.0, metavar="SECONDS")
    p.add_argument("--after", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--spacing", type=float, default=1.0, metavar="SECONDS")
    p.add_argument("--redact", action="store_true", help="blur faces in the keyframes")
    p.add_argument("--detector", help="face detector for --redact (default opencv)")
    p = add(evidence, "motion", cmd_motion, "motion events: start/end frame and time")
    p.add_argument("video")
    p.add_argument("--roi", metavar="X,Y,W,H")
    p.add_argument("--threshold", type=float, help="share of the region that must move (default 0.02)")
    p = add(evidence, "faces", cmd_faces, "face count and boxes; writes the blurred copy")
    p.add_argument("input", metavar="IMAGE_OR_VIDEO")
    p.add_argument("--out", metavar="REDACTED")
    p.add_argument("--detector", help="DeepFace detector (default opencv; others need weights in DEEPFACE_HOME)")
    p.add_argument("--every", type=int, default=5, help="on a video, detect every N frames (default 5)")
    p = add(evidence, "compare", cmd_compare, "change score between a before and an after image")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--roi", metavar="X,Y,W,H", help="the region of the before image to judge")
    p.add_argument("--out", metavar="IMAGE", help="side-by-side image (default: next to AFTER)")
