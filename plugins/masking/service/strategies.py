"""The masking strategies: how a value looks PARTIAL, LAST4, HASH or REDACTED."""

from __future__ import annotations

import re
from typing import Any

from kehu.policies import Strategy

from . import storage
from .crypto import pseudonym

REDACTED = "[redacted]"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def partial(kind: str, value: str) -> str:
    """A partial view: 138****5678, j***@example.com, 张*, J*** D***."""
    value = value.strip()
    if not value:
        return value
    if kind == "phone":
        country, _, rest = value[1:].partition(" ") if value.startswith("+") else ("", "", value)
        if country.isdigit() and rest:  # "+86 138 1234 5678": keep the country code
            return f"+{country} {partial(kind, rest)}"
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) >= 8:
            return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
        return "*" * max(len(digits) - 2, 1) + digits[-2:]
    if kind == "email":
        local, at, domain = value.rpartition("@")
        return (local[:1] + "***" + at + domain) if at else value[:1] + "***"
    if kind == "name":
        if CJK.search(value):
            return value[0] + "*" * (len(value) - 1)
        return " ".join(word[0] + "***" for word in value.split())
    if kind == "id_number":
        if len(value) >= 8:
            return value[:3] + "*" * (len(value) - 7) + value[-4:]
        return "*" * len(value)
    return value[:3] + "***" if len(value) > 6 else value[:1] + "***"


def last4(kind: str, value: str) -> str:
    chars = "".join(ch for ch in value if ch.isdigit()) if kind == "phone" else value.strip()
    return "****" + chars[-4:] if len(chars) > 4 else "****"


def apply_strategy(strategy: Strategy, kind: str, value: Any, pseudonym_key: bytes | None) -> Any:
    """``value`` shown with ``strategy``. ``None`` stays ``None``; lists are masked
    item by item; anything unexpected is redacted (fail closed)."""
    if value is None or strategy is Strategy.CLEAR:
        return value
    if isinstance(value, (list, tuple)):
        return [apply_strategy(strategy, kind, v, pseudonym_key) for v in value]
    if isinstance(value, dict):
        return {}
    if not isinstance(value, str):
        value = str(value)
    if strategy is Strategy.PARTIAL:
        return partial(kind, value)
    if strategy is Strategy.LAST4:
        return last4(kind, value)
    if strategy is Strategy.HASH and pseudonym_key is not None:
        return pseudonym(pseudonym_key, storage.normalise(kind, value))
    return REDACTED
