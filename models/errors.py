"""Domain errors. Each carries a stable code, a Chinese and an English message; nothing is written when one is
raised inside a unit of work."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"
    exit_code = 1

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en

    def __str__(self) -> str:
        return f"{self.zh} / {self.en}"

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


class ValidationError(DomainError):
    code = "invalid"
    exit_code = 2


class NotFound(DomainError):
    code = "not_found"
    exit_code = 3


class Forbidden(DomainError):
    """The actor's role, unit scope or tier does not allow the action."""

    code = "forbidden"
    exit_code = 4


class IllegalAction(DomainError):
    """The case's state does not allow the action."""

    code = "illegal_action"
    exit_code = 4


class Conflict(DomainError):
    """The case changed since the version the actor saw."""

    code = "conflict"
    exit_code = 5

    def __init__(self, zh: str, en: str, number: str, expected: int | None) -> None:
        super().__init__(zh, en)
        self.number = number
        self.expected = expected
