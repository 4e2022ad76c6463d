"""Personal data rules that every layer shares: phone numbers are validated as E.164, stored sealed (by a
sealer the edges provide, since encryption is not the domain's business), looked up by keyed digest, and only
ever shown masked."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from models.errors import ValidationError

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def normalize_phone(raw: str, default_country: str = "86") -> str:
    """'138 0013 8000', '+86-138-0013-8000', '008613800138000' -> '+8613800138000'; anything else is an error."""
    digits = re.sub(r"[\s\-().]", "", raw or "")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        if re.fullmatch(r"1[3-9]\d{9}", digits):
            digits = f"+{default_country}{digits}"
        else:
            digits = "+" + digits
    if not _E164.match(digits):
        raise ValidationError(
            f"电话号码无效：{raw!r}（须为 E.164 格式，如 +8613800138000）",
            f"invalid phone number {raw!r}: E.164 needed, e.g. +8613800138000",
        )
    return digits


def mask_phone(e164: str) -> str:
    """+8613800138000 -> +86 138****8000; short numbers keep only their last 2 digits."""
    if e164.startswith("+86") and len(e164) == 14:
        local = e164[3:]
        return f"+86 {local[:3]}****{local[-4:]}"
    return e164[:3] + "*" * max(len(e164) - 5, 0) + e164[-2:]


@dataclass(frozen=True)
class SealedPhone:
    sealed: str
    digest: str
    masked: str


class PhoneSealer(Protocol):
    def seal(self, phone: str) -> SealedPhone: ...

    def digest(self, phone: str) -> str: ...

    def open(self, sealed: str) -> str: ...
