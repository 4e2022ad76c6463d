"""The evidence pipeline: the moments that prove a case, safe to share.

For a case, the clip named by its alarm (or given): fetch it (size, duration and time limits), store the
original, take keyframes around the alarm moment and a contact sheet, cut a short clip around it, blur the faces
in all of them, store everything by content hash, and record each item with its custody entry. The snapshot of
the alarm and a citizen's photo get the same treatment. Each item stands alone: one that fails (unreachable URL,
corrupt file, missing detector weights) is recorded as failed with the reason, and the rest goes on.

Re-running is harmless and cheap: a source whose item is already recorded is not fetched again, stored files are
content-addressed, and an item with the same hash is not added twice. So the same flow, triggered again when a
unit reports a case fixed, only blurs the after photo that came by SMS.

`process_case_evidence` is the plain function: flows/evidence.py runs it when a case is created (the
`xueliang.case.create` event) and the console runs it when a reviewer asks for it.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from sqlalchemy import select

from integrations.storage import Storage, Stored
from integrations.video import (
    DEFAULT_LIMITS,
    EvidenceError,
    Keyframe,
    Limits,
    contact_sheet,
    fetch,
    is_image,
    keyframes,
    motion,
    probe,
    read_image,
    write_keyframes,
)
from models.cases import Case, Evidence, Signal
from models.commands import get_case
from models.db import Database, utcnow
from models.evidence import add_evidence, fail_evidence, record_redaction, unredacted
from models.settings import Settings

ACTOR = "system:evidence"
MOTION_FOR_MOMENT_MAX_S = 600.0  # find the moment by motion analysis only in clips up to this long
_SECRET_KEYS = re.compile(r"token|key|pass|secret|auth|sig|credential", re.IGNORECASE)

log = logging.getLogger("xueliang.evidence")


@dataclass
class EvidenceReport:
    number: str
    items: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    face_count: int | None = None
    at_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "items": self.items,
            "failed": self.failed,
            "face_count": self.face_count,
            "at_s": self.at_s,
        }


def public_source(url: str) -> str:
    """A source as recorded in the case history: no user:password, and secret-looking query values masked."""
    parsed = urlparse(url)
    if not parsed.scheme or not parsed.netloc:
        return url
    netloc = parsed.netloc.rsplit("@", 1)[-1]
    query = urlencode([(k, "***" if _SECRET_KEYS.search(k) else v) for k, v in parse_qsl(parsed.query, True)])
    return urlunparse(parsed._replace(netloc=netloc, query=query, fragment=""))


def parse_at(value: str | float | None) -> float | None:
    """Seconds into the clip: 12.5, "12.5", "12.5s" or "00:01:02.5"."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip().lower().removesuffix("s")
        try:
            if ":" in text:
                seconds = 0.0
                for part in text.split(":"):
                    seconds = seconds * 60 + float(part)
            else:
                seconds = float(text)
        except ValueError as exc:
            raise ValueError(f"at={value!r}: expected seconds into the clip (12.5 or 00:00:12.5)") from exc
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"at={value!r}: must be a non-negative number of seconds")
    return seconds


@dataclass
class _Sources:
    clip_url: str | None
    snapshot_url: str | None
    photo_url: str | None
    captured_at: datetime | None


def case_sources(db: Database, number: str) -> _Sources:
    """The clip, snapshot and photo URLs named by the signals of a case (the first of each), and the time of
    its first signal."""
    with db.read() as session:
        case: Case = get_case(session, number)
        signals = list(session.execute(select(Signal).where(Signal.case_id == case.id).order_by(Signal.id)).scalars())
        found: dict[str, str] = {}
        for signal in signals:
            for key in ("clip_url", "snapshot_url", "media_url"):
                value = (signal.fields or {}).get(key)
                if isinstance(value, str) and value.strip() and key not in found:
                    found[key] = value.strip()
        captured = next((s.time for s in signals if s.time is not None), None) or case.created_at
    return _Sources(found.get("clip_url"), found.get("snapshot_url"), found.get("media_url"), captured)


class _Run:
    """One run over one case: the shared pieces and the two ways an item ends (recorded, failed)."""

    def __init__(
        self,
        db: Database,
        number: str,
        storage: Storage,
        work: Path,
        detector: str | None,
        limits: Limits,
        actor: str,
        captured_at: datetime | None,
    ) -> None:
        self.db, self.number, self.storage, self.work = db, number, storage, work
        self.detector_name, self.limits, self.actor, self.captured_at = detector, limits, actor, captured_at
        self.report = EvidenceReport(number)

    def done(self, kind: str, url: str) -> bool:
        """Whether this case already has a ready item of this kind from this source: a clip is recorded last, after
        its keyframes, so a ready clip means the whole clip was processed and need not be fetched again."""
        with self.db.read() as session:
            case = get_case(session, self.number)
            found = session.execute(
                select(Evidence.id)
                .where(
                    Evidence.case_id == case.id,
                    Evidence.kind == kind,
                    Evidence.status == "ready",
                    Evidence.source == public_source(url)[:500],
                )
                .limit(1)
            ).first()
        return found is not None

    def detector(self) -> Any:
        from integrations.faces import get_detector

        return get_detector(self.detector_name)

    def count_faces(self, faces: int) -> None:
        self.report.face_count = max(self.report.face_count or 0, faces)

    def add(
        self,
        kind: str,
        original: Stored,
        redacted: Stored | None,
        source: str,
        face_count: int | None,
        captured_at: datetime | None = None,
    ) -> None:
        with self.db.write() as session:
            item = add_evidence(
                session,
                self.number,
                kind=kind,
                uri=original.uri,
                redacted_uri=redacted.uri if redacted else None,
                sha256=original.sha256,
                size=original.size,
                source=public_source(source),
                captured_at=captured_at or self.captured_at,
                face_count=face_count,
                actor=self.actor,
                now=utcnow(),
            )
            entry = {
                "id": item.id,
                "kind": kind,
                "uri": item.uri,
                "redacted_uri": item.redacted_uri,
                "sha256": item.sha256,
                "size": item.size,
                "face_count": item.face_count,
            }
        self.report.items.append(entry)

    def fail(self, kind: str, source: str, error: EvidenceError | str) -> None:
        message = str(error)
        with self.db.write() as session:
            fail_evidence(
                session, self.number, kind=kind, source=public_source(source), error=message, actor=self.actor
            )
        self.report.failed.append({"kind": kind, "source": public_source(source), "error": message})
        log.warning("evidence %s %s failed: %s", self.number, kind, message)

    # -- images

    def image(self, url: str, kind: str, path: Path | None = None, *, trusted: bool = False) -> None:
        """A still image (fetched from `url` unless `path` already holds it), blurred and recorded. Only a
        `trusted` source (given by an operator, not named in an alarm) may be a local file."""
        from integrations.faces import obscure

        try:
            path = path or fetch(url, self.work / kind, self.limits, allow_local=trusted)
            image = read_image(path, self.limits)
            faces = self.detector().detect(image)
            redacted_path = self.work / kind / "redacted.jpg"
            _write_jpeg(redacted_path, obscure(image.copy(), faces))
            original = self.storage.put(path, _image_suffix(path))
            redacted = self.storage.put(redacted_path)
        except EvidenceError as exc:
            self.fail(kind, url, exc)
            return
        self.count_faces(len(faces))
        self.add(kind, original, redacted, url, len(faces))

    def redact_existing(self) -> None:
        """Blurred copies for image items that arrived without one (a citizen's photo, an SMS after photo)."""
        from integrations.faces import obscure

        with self.db.read() as session:
            items = [(e.id, e.kind, e.uri) for e in unredacted(session, self.number)]
        for item_id, kind, uri in items:
            assert uri is not None
            try:
                local = self.storage.get(uri, self.work / "existing" / f"{item_id}")
                image = read_image(local, self.limits)
                faces = self.detector().detect(image)
                copy = _write_jpeg(self.work / "existing" / f"{item_id}-redacted.jpg", obscure(image.copy(), faces))
                stored = self.storage.put(copy)
            except EvidenceError as exc:
                # the item itself is fine; it stays without a public copy, and the next run tries again
                self.report.failed.append({"kind": kind, "evidence": item_id, "error": f"redaction failed: {exc}"})
                log.warning("evidence %s item %s: redaction failed: %s", self.number, item_id, exc)
                continue
            with self.db.write() as session:
                record_redaction(
                    session,
                    self.number,
                    item_id,
                    redacted_uri=stored.uri,
                    redacted_sha256=stored.sha256,
                    face_count=len(faces),
                    actor=self.actor,
                )
            self.count_faces(len(faces))
            self.report.items.append(
                {"id": item_id, "kind": kind, "redacted_uri": stored.uri, "face_count": len(faces), "redacted": True}
            )

    # -- clips

    def clip(
        self, url: str, at: float | None, before_s: float, after_s: float, spacing_s: float, *, trusted: bool = False
    ) -> None:
        try:
            path = fetch(url, self.work / "clip", self.limits, allow_local=trusted)
        except EvidenceError as exc:
            self.fail("clip", url, exc)
            return
        if is_image(path):  # an NVR that answers a clip URL with a still picture
            self.image(url, "snapshot", path)
            return
        try:
            info = probe(path, self.limits)
            original = self.storage.put(path, path.suffix if path.suffix in (".mp4", ".mov", ".mkv", ".ts") else "")
        except EvidenceError as exc:
            self.fail("clip", url, exc)
            return
        moment = at if at is not None else self.moment(path, info.duration_s, before_s)
        self.report.at_s = round(moment, 3)
        self.keyframes(path, url, moment, before_s, after_s, spacing_s)
        self.redacted_clip(path, url, original, moment, before_s, after_s)

    def moment(self, path: Path, duration_s: float, before_s: float) -> float:
        """The alarm moment when the caller does not know it: the start of the first motion in the clip (short
        clips), else `before_s` in (NVR alarm clips usually begin with a few seconds of pre-recording)."""
        if 0 < duration_s <= MOTION_FOR_MOMENT_MAX_S:
            try:
                events = motion(path, limits=self.limits).events
            except EvidenceError:
                events = []
            if events:
                return events[0].start_s
        return min(before_s, duration_s / 2) if duration_s else 0.0

    def keyframes(self, path: Path, url: str, at: float, before_s: float, after_s: float, spacing_s: float) -> None:
        from integrations.faces import obscure

        try:
            frames = keyframes(path, at, before_s, after_s, spacing_s, limits=self.limits)
            detector = self.detector()
            originals = write_keyframes(frames, self.work / "keyframes" / "original")
            hidden: list[Keyframe] = []
            counts = []
            for frame in frames:
                faces = detector.detect(frame.image)
                counts.append(len(faces))
                hidden.append(Keyframe(frame.index, frame.time_s, frame.target_s, obscure(frame.image.copy(), faces)))
            redacted = write_keyframes(hidden, self.work / "keyframes" / "redacted")
            sheet = contact_sheet(hidden, self.work / "keyframes" / "contact_sheet.jpg", at_s=at)
            stored = [(self.storage.put(o), self.storage.put(r)) for o, r in zip(originals, redacted, strict=True)]
            stored_sheet = self.storage.put(sheet)
        except EvidenceError as exc:
            self.fail("keyframe", url, exc)
            return
        for frame, faces, (original, hidden_copy) in zip(frames, counts, stored, strict=True):
            self.count_faces(faces)
            when = self.captured_at + timedelta(seconds=frame.time_s - at) if self.captured_at else None
            self.add("keyframe", original, hidden_copy, f"{url}#t={frame.time_s:.3f}", faces, when)
        # the sheet is made of blurred frames only: it is its own redacted copy
        self.add("contact_sheet", stored_sheet, stored_sheet, url, max(counts, default=0))

    def redacted_clip(self, path: Path, url: str, original: Stored, at: float, before_s: float, after_s: float) -> None:
        from integrations.faces import redact_video

        try:
            result = redact_video(
                path,
                self.work / "clip" / "redacted.mp4",
                self.detector_name,
                start_s=max(0.0, at - before_s),
                end_s=at + after_s,
                limits=self.limits,
            )
            redacted = self.storage.put(result.path)
        except EvidenceError as exc:
            self.fail("clip", url, f"redaction failed: {exc}")
            return
        self.count_faces(result.max_faces)
        self.add("clip", original, redacted, url, result.max_faces)


def _image_suffix(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(12)
    if head.startswith(b"\x89PNG"):
        return ".png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ".jpg" if head.startswith(b"\xff\xd8") else ""


def _write_jpeg(path: Path, image: Any, quality: int = 90) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise EvidenceError(f"cannot write {path}")
    return path


def process_case_evidence(
    db: Database,
    settings: Settings,
    number: str,
    clip_url: str | None = None,
    at: str | float | None = None,
    *,
    snapshot_url: str | None = None,
    storage: Storage | None = None,
    detector: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    before_s: float = 5.0,
    after_s: float = 10.0,
    spacing_s: float = 1.0,
    actor: str = ACTOR,
) -> EvidenceReport:
    """Produce, store and record the evidence of one case. URLs not given are taken from the case's signals
    (clip_url, snapshot_url, and a citizen's media_url as a photo); those must be remote (http(s), rtsp), while
    the caller's own `clip_url`/`snapshot_url` may also be local paths (an NVR export on the worker's disk).
    `at` is the alarm moment in seconds into the clip; when unknown, the start of the clip's first motion is used.
    Image items already recorded without a blurred copy (after photos sent by SMS) get one."""
    sources = case_sources(db, number)
    moment = parse_at(at)
    store = storage or Storage.from_settings(settings)
    with tempfile.TemporaryDirectory(prefix="xueliang-evidence-") as tmp:
        run = _Run(db, number, store, Path(tmp), detector, limits, actor, sources.captured_at)
        clip = clip_url or sources.clip_url
        if clip and not run.done("clip", clip):
            run.clip(clip, moment, before_s, after_s, spacing_s, trusted=clip_url is not None)
        snapshot = snapshot_url or sources.snapshot_url
        if snapshot and not run.done("snapshot", snapshot):
            run.image(snapshot, "snapshot", trusted=snapshot_url is not None)
        if sources.photo_url and not run.done("photo", sources.photo_url):
            run.image(sources.photo_url, "photo")
        run.redact_existing()
    return run.report
