"""Checks shared by every input path (GraphQL, CSV import, plugins).

Each raises ``ValidationError`` naming the field, so a user sees which value is
wrong and why; nothing is written when one fails.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NamedTuple

from .errors import ValidationError

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# An area code may open in brackets: "(010) 6552 9988", "(415) 555-0100".
PHONE_RE = re.compile(r"^(?=[^0-9]*[0-9])\+?[0-9(][0-9 ()\-.]{3,38}$")
TAG_RE = re.compile(r"^[\w][\w\-.:/ ]*$", re.UNICODE)
MAX_AMOUNT = Decimal("999999999999.99")
MAX_JSON_DEPTH = 10
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


# Unicode category Cc (C0 and C1 controls, DEL) and Cs (surrogates), as one
# character class: a regex search is ~30x faster than a per-character
# ``unicodedata.category`` loop, which mattered for imports of millions of cells.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_control(value: str, field: str, *, multiline: bool = False) -> None:
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if found is None:
        return
    if "\ud800" <= found.group() <= "\udfff":  # an unpaired surrogate: not Unicode text, and no database stores it
        raise ValidationError(
            "contains an invalid character (unpaired surrogate)", field=field, code="INVALID_CHARACTERS"
        )
    raise ValidationError("contains a control character", field=field, code="INVALID_CHARACTERS")


def text(value: Any, field: str, *, max_length: int, required: bool = False, multiline: bool = False) -> str | None:
    """Trim and check a text value; empty becomes None unless required."""
    if value is None:
        if required:
            raise ValidationError("is required", field=field, code="REQUIRED")
        return None
    if not isinstance(value, str):
        raise ValidationError("must be text", field=field)
    value = value.strip()
    if not value:
        if required:
            raise ValidationError("must not be empty", field=field, code="REQUIRED")
        return None
    if len(value) > max_length:
        raise ValidationError(f"must be at most {max_length} characters", field=field, code="TOO_LONG")
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value) is not None:
        _no_control(value, field, multiline=multiline)
    return value


def email(value: Any, field: str = "email", *, required: bool = False) -> str | None:
    """A valid e-mail address (domain lower-cased), ``None`` when empty; ``INVALID_EMAIL`` otherwise."""
    value = text(value, field, max_length=254, required=required)
    if value is None:
        return None
    if not EMAIL_RE.match(value):
        # The value is not echoed: messages reach logs and reports, and an e-mail is personal.
        raise ValidationError("is not a valid e-mail address", field=field, code="INVALID_EMAIL")
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def phone(value: Any, field: str = "phone") -> str | None:
    """A phone number of digits, spaces and ``+ ( ) - .``, ``None`` when empty; ``INVALID_PHONE`` otherwise."""
    value = text(value, field, max_length=40)
    if value is None:
        return None
    if not PHONE_RE.match(value):
        raise ValidationError(
            "is not a valid phone number (digits, spaces, + ( ) - . only)", field=field, code="INVALID_PHONE"
        )
    return value


def external_id(value: Any, field: str = "externalId") -> str | None:
    """An id from another system: up to 200 characters of text, kept as given
    (trimmed); empty means none."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # JSON and spreadsheets carry numeric ids as numbers
    return text(value, field, max_length=200)


def tags(value: Any, field: str = "tags") -> list[str]:
    """Tags lower-cased, without duplicates, sorted; at most 50 of 64 characters each."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValidationError("must be a list of tags", field=field)
    if len(value) > 50:
        raise ValidationError("at most 50 tags", field=field, code="TOO_MANY")
    out = set()
    for tag in value:
        tag = text(tag, field, max_length=64)
        if tag is None:
            continue
        tag = tag.lower()
        if not TAG_RE.match(tag):
            raise ValidationError(f"tag '{tag}' has characters that are not allowed", field=field)
        out.add(tag)
    return sorted(out)


def attributes(value: Any, field: str = "attributes") -> dict[str, Any]:
    """A JSON object of limited depth and size, safe for SQLite and PostgreSQL
    (no NaN, no integers beyond 64 bits); ``{}`` for ``None``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", field=field)
    depth, huge = _shape(value)
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"must not nest deeper than {MAX_JSON_DEPTH} levels", field=field, code="TOO_DEEP")
    if huge:
        raise ValidationError(
            "has a whole number beyond 64 bits; send it as a string", field=field, code="INVALID_JSON"
        )
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
        encoded = json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
        encoded.encode("utf-8")
    except ValueError:  # UnicodeEncodeError is one
        raise ValidationError(
            "must be JSON without NaN, Infinity or unpaired surrogates", field=field, code="INVALID_JSON"
        ) from None
    if len(encoded) > 32_000:
        raise ValidationError("must be at most 32,000 characters of JSON", field=field, code="TOO_LONG")
    return value


def _shape(value: Any) -> tuple[int, bool]:
    """Nesting depth of a JSON value (a scalar is 0), and whether it holds an
    integer beyond 64 bits (neither database's JSON nor the encoder takes one).
    Iterative, so a deep value cannot exhaust the stack."""
    deepest, huge, stack = 0, False, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
            huge = True
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth + 1)
            if deepest > MAX_JSON_DEPTH:
                break
            stack.extend((child, depth + 1) for child in children)
    return deepest, huge


def amount(value: Any, field: str = "amount") -> Decimal | None:
    """Money as ``Decimal`` with at most two decimals, from a string (``"250.00"``)
    or a number; ``None`` stays ``None``. GraphQL money inputs are strings, so no
    amount ever passes through a float."""
    if value is None:
        return None
    if isinstance(value, str):
        return _amount_text(value, field)  # prices repeat: cached per distinct text
    return _amount(value, field)


def _amount(value: Any, field: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"'{value}' is not a number", field=field) from None
    if not number.is_finite():
        raise ValidationError("must be a finite number", field=field)
    if number < 0:
        raise ValidationError("must not be negative", field=field, code="NEGATIVE")
    if number > MAX_AMOUNT:
        raise ValidationError(f"must be at most {MAX_AMOUNT}", field=field, code="TOO_LARGE")
    cents = number.quantize(_CENT)
    if number != cents:
        raise ValidationError("has more than 2 decimal places", field=field)
    return cents


_CENT = Decimal("0.01")
_amount_text = functools.lru_cache(maxsize=16384)(_amount)


def moment(value: Any, field: str, *, zone: dt.tzinfo | None = None) -> dt.datetime | None:
    """A time within a sane range, stored in UTC.

    ISO 8601 text or a ``datetime``; a date alone (``2024-03-01``) is the start of
    that day. A time without an offset is read in ``zone`` (the business time
    zone, ``[kehu] timezone``), UTC when none is given.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _moment_text(value, field, zone)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if not isinstance(value, dt.datetime):
        raise ValidationError("must be a date-time", field=field)
    return _checked_moment(value, field, zone)


@functools.lru_cache(maxsize=8192)
def _moment_text(value: str, field: str, zone: dt.tzinfo | None) -> dt.datetime:
    # Cached: an import of ten years of purchases has a few thousand distinct dates
    # in a million rows. (An error is raised anew each time; only results are kept.)
    text = value.strip()
    try:
        moment_ = dt.datetime.fromisoformat(text)
    except ValueError:
        moment_ = _loose_datetime(text, value, field)
    return _checked_moment(moment_, field, zone)


def _checked_moment(value: dt.datetime, field: str, zone: dt.tzinfo | None) -> dt.datetime:
    if value.tzinfo is None:
        if value.fold:
            value = value.replace(tzinfo=zone or dt.UTC)
        else:  # the same, without replace()'s keyword parsing (a third of an import's time per date)
            value = dt.datetime(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                zone or dt.UTC,
            )
    if not (EARLIEST <= value < LATEST):
        raise ValidationError("must be between 1900 and 2200", field=field, code="OUT_OF_RANGE")
    return value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)


@functools.lru_cache(maxsize=1024)
def _member(enum: type, value: str) -> Any:
    return enum(value.strip().upper())


# What spreadsheets and older systems write besides ISO 8601: 2024/3/1 14:05,
# 2024.03.01, 20240301.
_LOOSE_DATETIME = re.compile(
    r"^(\d{4})(?:[-/.](\d{1,2})[-/.](\d{1,2})|(\d{2})(\d{2}))(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?$"
)


def _loose_datetime(text: str, original: Any, field: str) -> dt.datetime:
    match = _LOOSE_DATETIME.match(text)
    try:
        if match is None:
            raise ValueError
        year, month, day, month2, day2, hour, minute, second, fraction = match.groups()
        return dt.datetime(
            int(year),
            int(month or month2),
            int(day or day2),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        raise ValidationError(f"'{original}' is not an ISO 8601 date-time", field=field) from None


# A field's rule: the value as given (None when absent) -> the value stored, or
# ValidationError. ``clean_customer_fields`` and ``clean_interaction_fields`` take
# them as a table, so that imports can run the same rules remembered.
Rule = Callable[[Any], Any]


class _Refused(NamedTuple):
    message: str
    field: str | None
    code: str


_UNSEEN = object()
# Distinct texts after which ``remembered`` looks at how often they repeated.
_PROBE = 4096


def remembered(rule: Rule, limit: int = 65_536) -> Rule:
    """``rule`` with its outcome — the value, or the ``ValidationError`` — kept per
    distinct text: a file's kinds, regions, tags, dates and prices repeat from
    row to row, and a dictionary lookup costs a fraction of checking the value
    again. Up to ``limit`` texts are kept, then forgotten all at once, so memory
    stays flat however long the file. A column whose first 4,096 distinct texts
    came in fewer than 5,120 values (e-mail addresses, times to the second) is
    not worth it: from then on each value is checked. Values other than text
    (None, a spreadsheet's dates) are checked each time.

    The values it returns are shared between the rows that gave the same text:
    callers must not change them in place."""
    seen: dict[str, Any] = {}
    lookup = seen.get
    calls, remembering = 0, True

    def check(value: Any) -> Any:
        nonlocal calls, remembering
        if not remembering or value.__class__ is not str:
            return rule(value)
        calls += 1
        found = lookup(value, _UNSEEN)
        if found is _UNSEEN:
            try:
                found = rule(value)
            except ValidationError as exc:
                found = _Refused(exc.message, exc.field, exc.code)
            if len(seen) >= limit:
                seen.clear()
            seen[value] = found
            if len(seen) == _PROBE and calls < _PROBE * 5 // 4:  # hardly any repeats: stop remembering
                remembering = False
                seen.clear()
        if found.__class__ is _Refused:
            raise ValidationError(found.message, field=found.field, code=found.code)
        return found

    return check


def choice(value: Any, enum: type[Enum], field: str) -> Any:
    """The member of ``enum`` named by ``value`` (any case), or a ``ValidationError`` listing the allowed ones."""
    if isinstance(value, enum):
        return value
    try:
        return _member(enum, value) if isinstance(value, str) else enum(str(value).strip().upper())
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValidationError(f"'{value}' is not one of {allowed}", field=field) from None
