"""Identifiers: global IDs, and the digests secrets and documents are stored by.

A global ID is the opaque ``ID`` of every object kehu shows (Relay's convention):
the URL-safe base64 of ``"<GraphQL type name>:<primary key>"``, without padding.
Core code, services and plugins use these helpers without importing the GraphQL
layer; ``kehu.schema`` re-exports them. A malformed ID, or one of the wrong type,
raises ``BadRequest`` (code ``INVALID_ID``): a user error, never a crash.

``digest(text)`` is the SHA-256 under which kehu stores what it must recognise but
not keep: API tokens, survey links, and the key of a trusted GraphQL document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
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
    """URL-safe base64 of ``text`` without padding: the encoding of global IDs and cursors."""
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


def pks_from_global_ids(global_ids: Iterable[str] | None, type_name: str, field: str = "ids") -> list[int] | None:
    """The integer pks of a list of global IDs that must all name a ``type_name``
    (``None`` stays ``None``: an input list that was not given). ``field`` is the
    input field an error names."""
    if global_ids is None:
        return None
    return [from_global_id(global_id, type_name, field=field)[1] for global_id in global_ids]


def digest(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8), as 64 lower-case hexadecimal digits.

    Store the digest of a secret handed out once (a token, a link) and look the
    secret up by it: a leaked database then leaks nothing usable. The same digest
    names a trusted GraphQL document (``documentId: "sha256:<digest>"``).
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
