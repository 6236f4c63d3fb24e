"""Global IDs: the opaque ``ID`` of every object kehu shows (Relay's convention).

An ID is the URL-safe base64 of ``"<GraphQL type name>:<primary key>"``, without
padding. Core code, services and plugins use these helpers without importing the
GraphQL layer; ``kehu.schema`` re-exports them. A malformed ID, or one of the
wrong type, raises ``BadRequest`` (code ``INVALID_ID``): a user error, never a crash.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .errors import KehuError

# Primary keys are 32-bit serials on PostgreSQL; a larger number in an ID or a
# cursor can name nothing, and the databases refuse it as a parameter (SQLite:
# OverflowError past 2**63, PostgreSQL: out of int4 range).
MAX_PK = 2**31 - 1


class BadRequest(KehuError):
    """A malformed argument: bad cursor, bad ID, page too large."""

    code = "BAD_REQUEST"


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def b64(text: str) -> str:
    # base64.urlsafe_b64encode without its Python layers: a page encodes ~1,000 IDs.
    return binascii.b2a_base64(text.encode(), newline=False).translate(_URL_SAFE).rstrip(b"=").decode()


def to_global_id(type_name: str, pk: Any) -> str:
    """The global ID of the ``type_name`` object with primary key ``pk``."""
    return b64(f"{type_name}:{pk}")


def from_global_id(
    global_id: str, expected: str | tuple[str, ...] | None = None, *, field: str = "id"
) -> tuple[str, int]:
    """``(type name, integer pk)``; raises ``BadRequest`` when malformed or of the
    wrong type."""
    if not isinstance(global_id, str) or len(global_id) > 200:
        raise BadRequest(f"'{field}' is not a valid ID", field=field, code="INVALID_ID")
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw_pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        pk = int(raw_pk)
        if not 0 < pk <= MAX_PK:
            raise ValueError
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"'{field}' is not a valid ID", field=field, code="INVALID_ID") from None
    if expected is not None:
        allowed = (expected,) if isinstance(expected, str) else expected
        if type_name not in allowed:
            raise BadRequest(f"'{field}' is not the ID of a {' or '.join(allowed)}", field=field, code="INVALID_ID")
    return type_name, pk


def pk_from_global_id(global_id: str, type_name: str, field: str = "id") -> int:
    """The integer pk of a global ID that must name a ``type_name``."""
    return from_global_id(global_id, type_name, field=field)[1]
