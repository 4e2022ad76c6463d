"""Evidence storage: content-addressed, idempotent, read-only once stored, on the local disk and on any fsspec
filesystem (memory:// standing in for S3)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from integrations.storage import Storage
from integrations.video import EvidenceError
from models.settings import Settings


def test_local_store_is_content_addressed(tmp_path: Path) -> None:
    store = Storage(tmp_path / "media")
    source = tmp_path / "frame.JPG"
    source.write_bytes(b"\xff\xd8 a keyframe")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    stored = store.put(source)
    assert stored.sha256 == digest and stored.size == source.stat().st_size
    assert stored.uri == f"file://{tmp_path}/media/{digest[:2]}/{digest[2:4]}/{digest}.jpg"
    assert store.put(source) == stored  # the same bytes again: the same file
    assert store.read(stored.uri) == source.read_bytes() and store.exists(stored.uri)
    assert store.verify(stored.uri, digest) and not store.verify(stored.uri, "0" * 64)
    assert store.get(stored.uri, tmp_path / "copy") == tmp_path / "media" / digest[:2] / digest[2:4] / f"{digest}.jpg"
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == [f"{digest}.jpg"]  # no temp left


def test_memory_filesystem_as_a_remote_store(tmp_path: Path) -> None:
    base = f"memory://evidence-{uuid.uuid4().hex[:8]}/prefix"
    store = Storage(base)
    stored = store.put(b"clip bytes", ".mp4")
    assert stored.uri.startswith("memory://") and stored.uri.endswith(".mp4")
    assert store.read(stored.uri) == b"clip bytes"
    copy = store.get(stored.uri, tmp_path / "local.mp4")
    assert copy.read_bytes() == b"clip bytes"
    assert Storage(base).put(b"clip bytes", ".mp4") == stored


def test_settings_choose_the_store(tmp_path: Path) -> None:
    settings = Settings.load(environ={"XUELIANG_MEDIA_DIR": str(tmp_path / "m")}, cwd=tmp_path)
    assert Storage.from_settings(settings).put(b"x").uri.startswith(f"file://{tmp_path}/m/")


def test_refusals(tmp_path: Path) -> None:
    store = Storage(tmp_path / "media")
    with pytest.raises(EvidenceError, match="not in the evidence store"):
        store.open("file:///etc/hostname")
    with pytest.raises(EvidenceError, match="not in the evidence store"):
        store.read(f"file://{tmp_path}/media/../secret")
    with pytest.raises(EvidenceError, match="no such file"):
        store.put(tmp_path / "absent.jpg")
    with pytest.raises(EvidenceError, match="not in the evidence store"):
        store.read(store.uri(store.key("a" * 64, ".jpg")))
    with pytest.raises(ValueError, match="read-only"):
        store.open(store.put(b"y").uri, "wb")
    with pytest.raises(EvidenceError):
        Storage("nosuchprotocol://bucket/x")
