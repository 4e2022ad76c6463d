"""Evidence storage: content-addressed files under XUELIANG_MEDIA_DIR, a local folder by default and any fsspec
URL in production (`s3://bucket/prefix` with the s3fs package; `memory://` in tests).

A file is stored under its own SHA-256: `<root>/ab/cd/abcd…ef.jpg`. The same bytes stored twice are one file,
a stored file can always be checked against the hash recorded in the case history, and nothing is ever
overwritten with different content. Writes go to a temporary name first and are moved into place, so a reader
never sees half a file.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from integrations.video import EvidenceError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Stored:
    uri: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "sha256": self.sha256, "size": self.size}


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class Storage:
    """One evidence store (a local folder or an fsspec URL)."""

    def __init__(self, base: str | Path, **storage_options: Any) -> None:
        self.base = str(base)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.base, **storage_options)
        except (ImportError, ValueError) as exc:
            raise EvidenceError(f"evidence storage {self.base}: {exc}") from exc
        self.root = root.rstrip("/") or "/"
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Any) -> Storage:
        return cls(settings.media_dir)

    def key(self, sha256: str, suffix: str = "") -> str:
        """The path of a blob, relative to the root."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise EvidenceError(f"not a SHA-256 hex digest: {sha256!r}")
        suffix = suffix.lower() if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix or "") else ""
        return f"{sha256[:2]}/{sha256[2:4]}/{sha256}{suffix}"

    def uri(self, key: str) -> str:
        return self.fs.unstrip_protocol(f"{self.root}/{key}")

    def put(self, source: str | Path | bytes, suffix: str | None = None) -> Stored:
        """Store a local file (or bytes) by content; returns its URI, hash and size. Idempotent."""
        if isinstance(source, bytes):
            sha, size = hashlib.sha256(source).hexdigest(), len(source)
            suffix = suffix or ""
        else:
            path = Path(source)
            if not path.is_file():
                raise EvidenceError(f"{path}: no such file to store")
            sha, size = sha256_file(path)
            suffix = path.suffix if suffix is None else suffix
        key = self.key(sha, suffix)
        target = f"{self.root}/{key}"
        try:
            if self.fs.exists(target) and self.fs.size(target) == size:
                return Stored(self.uri(key), sha, size)
            self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
            temporary = f"{target}.{uuid.uuid4().hex}.part"
            if isinstance(source, bytes):
                self.fs.pipe_file(temporary, source)
            else:
                self.fs.put_file(str(source), temporary)
            self.fs.mv(temporary, target)
        except OSError as exc:
            raise EvidenceError(f"cannot store {sha[:12]}… in {self.base}: {exc}") from exc
        return Stored(self.uri(key), sha, size)

    def _path(self, uri: str) -> str:
        """The filesystem path of a URI of this store; refuses anything outside the root."""
        path = self.fs._strip_protocol(uri) if "://" in uri else uri
        path = path.rstrip("/")
        if not path.startswith(self.root.rstrip("/") + "/") or ".." in path.split("/"):
            raise EvidenceError(f"{uri} is not in the evidence store {self.base}")
        return path

    def open(self, uri: str, mode: str = "rb") -> IO[bytes]:
        if mode not in ("rb",):
            raise ValueError("evidence is read-only once stored")
        try:
            return self.fs.open(self._path(uri), mode)
        except FileNotFoundError as exc:
            raise EvidenceError(f"{uri}: not in the evidence store") from exc

    def read(self, uri: str) -> bytes:
        with self.open(uri) as handle:
            return handle.read()

    def get(self, uri: str, dest: Path) -> Path:
        """A local copy of a stored file (the file itself when the store is local)."""
        path = self._path(uri)
        if self.local:
            if not Path(path).is_file():
                raise EvidenceError(f"{uri}: not in the evidence store")
            return Path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get_file(path, str(dest))
        except FileNotFoundError as exc:
            raise EvidenceError(f"{uri}: not in the evidence store") from exc
        return dest

    def exists(self, uri: str) -> bool:
        return bool(self.fs.exists(self._path(uri)))

    def verify(self, uri: str, sha256: str) -> bool:
        """Whether the stored bytes still hash to what was recorded."""
        digest = hashlib.sha256()
        with self.open(uri) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256


__all__ = ["Storage", "Stored", "sha256_file"]
