"""Secrets at the edge: the key that seals phone numbers, password hashing, and source-token checks.

The key comes from XUELIANG_SECRET_KEY; in the embedded default it is generated once into var/secret.key
(mode 0600). Losing the key makes sealed phone numbers unreadable, so production sets it explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from models.privacy import SealedPhone, mask_phone, normalize_phone
from models.settings import Settings

_hasher = PasswordHasher()


def secret_key(settings: Settings, key_file: Path | None = None) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = key_file or Path.cwd() / "var" / "secret.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    return value


class PhoneVault:
    """Implements models.privacy.PhoneSealer with Fernet (sealing) and HMAC-SHA256 (lookup digest)."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"seal:" + key.encode()).digest()))
        self._digest_key = hashlib.sha256(b"digest:" + key.encode()).digest()

    @classmethod
    def from_settings(cls, settings: Settings) -> PhoneVault:
        return cls(secret_key(settings))

    def digest(self, phone: str) -> str:
        return hmac.new(self._digest_key, normalize_phone(phone).encode(), hashlib.sha256).hexdigest()

    def seal(self, phone: str) -> SealedPhone:
        e164 = normalize_phone(phone)
        return SealedPhone(
            sealed=self._fernet.encrypt(e164.encode()).decode(), digest=self.digest(e164), masked=mask_phone(e164)
        )

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError(
                "sealed phone number cannot be opened with this key (XUELIANG_SECRET_KEY changed?)"
            ) from exc

    def seal_bytes(self, data: bytes) -> bytes:
        """Seal a raw inbound body that carries personal data (citizens' reports): kept, but not readable."""
        return self._fernet.encrypt(data)

    def open_bytes(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise ValueError("sealed data cannot be opened with this key (XUELIANG_SECRET_KEY changed?)") from exc


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
