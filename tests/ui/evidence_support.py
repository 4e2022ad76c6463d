"""Pictures for the patrol and verification page tests: encoded in memory, stored in a test's evidence store and
recorded on a case."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from integrations.storage import Storage
from models.db import Database
from models.evidence import add_evidence


def encoded(image: np.ndarray, suffix: str = ".png") -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()


def add_picture(db: Database, media: Path, number: str, kind: str, image: np.ndarray, actor: str) -> None:
    """Store `image` as JPEG in the evidence store at `media` and record it on case `number` as `kind`."""
    item = Storage(str(media)).put(encoded(image, ".jpg"), ".jpg")
    with db.write() as s:
        add_evidence(
            s,
            number,
            kind=kind,
            uri=item.uri,
            redacted_uri=None,
            sha256=item.sha256,
            size=item.size,
            source="test",
            captured_at=None,
            face_count=None,
            actor=actor,
        )
