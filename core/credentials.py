"""Sign-in, bearer tokens and the login throttle: the account rules that
``kehu.owners`` applies and the server authenticates requests with.

Tokens are 256-bit random strings shown once; the database keeps only their
SHA-256, so a leaked database does not leak sessions. Passwords are hashed with
argon2id. Failed sign-ins are counted per account and per client address in the
database (shared by every worker); after ``max_failed_logins`` the key is locked
for ``lockout_minutes`` — even the right password is refused until then.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .access import Viewer
from .errors import ValidationError
from .ids import digest as token_digest
from .models import AccessToken, AccountOwner, TokenKind

if TYPE_CHECKING:
    from .server.db import LoopReads
    from .server.runtime import Kehu

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal accounts;
# made on first use (an argon2 hash costs ~0.15 s: every CLI command paid it at import).
_DUMMY_HASH: str | None = None

MIN_PASSWORD_LENGTH = 10
IP_LIMIT_FACTOR = 5
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and check passwords with ``hasher`` from now on in this process.
    kehu.testing lowers argon2's cost for test apps this way; the server never calls it."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = None


def hash_password(password: str, *, email: str | None = None, name: str | None = None) -> str:
    check_password_strength(password, email=email, name=name)
    return _hasher.hash(password)


def check_password_strength(
    password: str, field: str = "password", *, email: str | None = None, name: str | None = None
) -> None:
    """Refuse a password that is short, is the account's e-mail address, is one of
    the most common passwords, or is otherwise quickly guessed.

    The common passwords and the guessability score come from ``zxcvbn`` (a
    maintained port of Dropbox's estimator, pure Python): its list of the 30,000
    most common passwords, plus English words, names and keyboard patterns, with
    the account's e-mail and name counted as known words. The message never
    repeats the password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"must be at least {MIN_PASSWORD_LENGTH} characters", field=field, code="WEAK_PASSWORD")
    if len(password) > 1024:
        raise ValidationError("must be at most 1024 characters", field=field, code="TOO_LONG")
    lowered = password.strip().lower()
    address = (email or "").strip().lower()
    if address and lowered in (address, address.partition("@")[0]):
        raise ValidationError("must not be your e-mail address", field=field, code="PASSWORD_IS_EMAIL")
    if lowered in _common_passwords():
        raise ValidationError("is one of the most common passwords", field=field, code="COMMON_PASSWORD")
    if len(password) <= ZXCVBN_MAX_LENGTH:  # longer ones are long enough
        from zxcvbn import zxcvbn

        local = address.partition("@")[0]
        # The e-mail and the name as they are, and run together ("wang.fang", "Wang Fang": "wangfang").
        known = [w for w in (address, local, name or "") for w in (w, "".join(filter(str.isalnum, w))) if w]
        result = zxcvbn(password, user_inputs=known)
        if result["score"] < MIN_PASSWORD_SCORE:
            hint = result["feedback"].get("warning") or "add another uncommon word or two"
            raise ValidationError(
                f"is too easy to guess: {hint.rstrip('.').lower()}", field=field, code="WEAK_PASSWORD"
            )


# zxcvbn's scores run 0..4; 3 is "safely unguessable: moderate protection from an
# offline slow-hash attack" (< 10^10 guesses). zxcvbn refuses longer input than 72.
MIN_PASSWORD_SCORE = 3
ZXCVBN_MAX_LENGTH = 72


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def prepare_login_checks() -> str:
    """Make the hash that a sign-in with an unknown e-mail is checked against, so
    that the first such sign-in takes as long as any other. The server calls it at
    start-up; a command that never checks a password never pays for it."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash("kehu-dummy-password")
    return _DUMMY_HASH


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or prepare_login_checks(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return "kh_" + secrets.token_urlsafe(32)


async def issue_token(
    owner: AccountOwner, kind: TokenKind, expires_at: dt.datetime | None, name: str = ""
) -> tuple[str, AccessToken]:
    token = new_token()
    row = await AccessToken.create(
        token_hash=token_digest(token), owner=owner, kind=kind, expires_at=expires_at, name=name
    )
    return token, row


@dataclass(frozen=True)
class TokenCheck:
    """What a bearer token stands for right now: a viewer, or why it signs in no more
    (``ended``: ``unknown``, ``revoked``, ``expired`` or ``deactivated``).

    ``credential`` fingerprints the owner's password hash (in memory only): a live
    connection opened before a password change notices the change by it."""

    viewer: Viewer | None
    ended: str | None = None
    token_id: int | None = None
    expires_at: dt.datetime | None = None
    credential: str = ""


async def check_token(kehu: Kehu, digest: str, *, touch: bool = True) -> TokenCheck:
    """Read the token with SHA-256 ``digest`` from the database: every HTTP request
    and every operation started on a WebSocket asks this."""
    row = await _token_with_owner(digest, getattr(kehu, "loop_reads", None))
    now = kehu.clock.now()
    if row is None:
        return TokenCheck(None, "unknown")
    credential = token_digest(row.owner.password_hash or "")
    if not row.owner.active and not row.owner.is_service:
        return TokenCheck(None, "deactivated", row.id, credential=credential)  # (which revokes its tokens too)
    if row.revoked_at is not None or not row.owner.active:
        return TokenCheck(None, "revoked", row.id, credential=credential)
    if row.expires_at is not None and row.expires_at <= now:
        return TokenCheck(None, "expired", row.id, credential=credential)
    if touch and (row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION):
        # At most one write per token per minute: enough to spot stale API tokens.
        await AccessToken.filter(id=row.id).update(last_used_at=now)
    viewer = Viewer(owner=row.owner, permissions=kehu.permissions_for(row.owner.role), token_id=row.id)
    return TokenCheck(viewer, None, row.id, row.expires_at, credential)


@functools.cache
def _token_query() -> tuple[str, list[str], list[str]]:
    """The token-and-owner join as SQL text, written once per process: Tortoise
    builds ``filter(...).select_related("owner")`` anew at each call (a third of a
    signed-in trivial request's time). Columns come from the models' own lists."""
    token_columns = list(AccessToken._meta.fields_db_projection.values())
    owner_columns = list(AccountOwner._meta.fields_db_projection.values())
    select = [f't."{c}" AS "t_{c}"' for c in token_columns] + [f'o."{c}" AS "o_{c}"' for c in owner_columns]
    sql = (
        f'SELECT {", ".join(select)} FROM "{AccessToken._meta.db_table}" t '
        f'LEFT OUTER JOIN "{AccountOwner._meta.db_table}" o ON o."id" = t."owner_id" '
        'WHERE t."token_hash" = $1 LIMIT 1'
    )
    return sql, token_columns, owner_columns


async def _token_with_owner(digest: str, loop_reads: LoopReads | None = None) -> AccessToken | None:
    """``AccessToken.filter(token_hash=digest).select_related("owner").first()``,
    from SQL written once; the instances are built as Tortoise builds them. On a
    SQLite file the read runs on the loop's thread (``loop_reads``: one row through
    the token's unique index), through the pool when that cannot answer at once."""
    sql, token_columns, owner_columns = _token_query()
    rows = loop_reads.rows(sql, [digest]) if loop_reads is not None else None
    if rows is None:
        rows = await AccessToken._meta.db.execute_query_dict(sql, [digest])
    if not rows:
        return None
    found = rows[0]
    token = AccessToken._init_from_db(**{c: found[f"t_{c}"] for c in token_columns})
    token._owner = AccountOwner._init_from_db(**{c: found[f"o_{c}"] for c in owner_columns})
    return token


async def viewer_for_token(kehu: Kehu, token: str) -> Viewer | None:
    """The viewer a bearer token stands for, or None (unknown, expired, revoked,
    or the owner deactivated)."""
    if len(token) > 200:
        return None
    return (await check_token(kehu, token_digest(token))).viewer


class LoginThrottleGuard:
    """At most ``max_failed_logins`` password checks per account (five times that per
    client address) in a window of ``lockout_minutes``; then the key is locked for
    ``lockout_minutes`` — even the right password is refused until then.

    An attempt is *reserved* before the password is checked: one upsert per key
    counts it and returns the count, so parallel attempts (on one worker or many)
    cannot all pass a check made before any of them was counted. A reserved attempt
    counts as a failure until the password proves right; a right password clears
    the account's count — unless the key went over its limit meanwhile (a burst in
    flight), in which case it is refused like the rest. ``updated_at`` is the time
    of the last attempt: attempts older than the window no longer count.
    """

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.limit = kehu.config.auth.max_failed_logins
        self.lockout = dt.timedelta(minutes=kehu.config.auth.lockout_minutes)

    def limit_for(self, key: str) -> int:
        # An address may serve many people (an office NAT): it gets more tries.
        return self.limit * (IP_LIMIT_FACTOR if key.startswith("ip:") else 1)

    async def reserve(self, keys: list[str]) -> int | None:
        """Count one attempt against every key at once. Returns the account key's
        count, or None when a key is over its limit (the attempt must not go on)."""
        now = self.kehu.clock.now()
        lock_until = now + self.lockout
        counts = {}
        for key in keys:
            limit = self.limit_for(key)
            rows = await self._db().execute_query_dict(
                self._sql(RESERVE_SQL),
                [key, now, lock_until if limit <= 1 else None, now - self.lockout, limit, lock_until],
            )
            counts[key] = rows[0]["failures"]
            if counts[key] > limit:
                return None
        return counts[keys[0]]

    async def success(self, keys: list[str]) -> bool:
        """After a right password: clear the account's count (``keys[0]``) and take
        this attempt back from the other keys (the client address: a right password
        is not a failure, or an office behind one address would lock itself out by
        signing in; the address's other failures still count). False when the
        account's key went over its limit while the password was being checked (the
        sign-in is refused, and counts)."""
        db = self._db()
        key = keys[0]
        limit = self.limit_for(key)
        rows = await db.execute_query_dict(self._sql(CLEAR_SQL), [key, limit])
        if not rows:
            left = await db.execute_query_dict(
                self._sql("SELECT failures FROM kehu_login_throttle WHERE key = $1"), [key]
            )
            if left and left[0]["failures"] > limit:
                return False
        for other in keys[1:]:
            await db.execute_query_dict(self._sql(RELEASE_SQL), [other, self.limit_for(other)])
        return True

    def delay_for(self, failures: int) -> float:
        """Seconds to hold a failed answer back: nothing for the first few mistakes,
        then longer for each further one (capped), before the lock."""
        settings = self.kehu.config.auth
        extra = failures - settings.slow_after_failures
        return min(settings.max_failure_delay_seconds, extra * settings.failure_delay_seconds) if extra > 0 else 0.0

    def _db(self):
        from tortoise.connection import connections

        return connections.get("default")

    def _sql(self, text: str) -> str:
        # The same numbered parameters on both engines: $1 (PostgreSQL), ?1 (SQLite).
        return text.replace("$", "?") if self._db().capabilities.dialect == "sqlite" else text


# $1 key, $2 now, $3 the lock if the first attempt already reaches the limit,
# $4 the start of the window, $5 the key's limit, $6 the lock's end. A key starts
# afresh when its lock has expired, or when it holds no lock and its last attempt
# is older than the window. The lock is set by the attempt that reaches the limit;
# attempts beyond it are counted too (the answer says "locked").
_FRESH = (
    "(kehu_login_throttle.locked_until IS NOT NULL AND kehu_login_throttle.locked_until <= $2)"
    " OR (kehu_login_throttle.locked_until IS NULL AND kehu_login_throttle.updated_at < $4)"
)
RESERVE_SQL = f"""INSERT INTO kehu_login_throttle (key, failures, locked_until, updated_at) VALUES ($1, 1, $3, $2)
ON CONFLICT (key) DO UPDATE SET
  failures = CASE WHEN {_FRESH} THEN 1 ELSE kehu_login_throttle.failures + 1 END,
  locked_until = CASE
    WHEN {_FRESH} THEN $3
    WHEN kehu_login_throttle.locked_until IS NOT NULL THEN kehu_login_throttle.locked_until
    WHEN kehu_login_throttle.failures + 1 >= $5 THEN $6
    ELSE NULL END,
  updated_at = $2
RETURNING failures"""
CLEAR_SQL = "DELETE FROM kehu_login_throttle WHERE key = $1 AND failures <= $2 RETURNING key"
# One attempt taken back ($1 key, $2 its limit); a lock this attempt set by reaching
# the limit goes with it. A key already over its limit keeps its count and lock.
RELEASE_SQL = """UPDATE kehu_login_throttle SET
  failures = failures - 1,
  locked_until = CASE WHEN failures - 1 < $2 THEN NULL ELSE locked_until END
WHERE key = $1 AND failures > 0 AND failures <= $2"""


def throttle_keys(email: str, client: str | None) -> list[str]:
    keys = [f"email:{email.strip().lower()}"]
    if client:
        keys.append(f"ip:{client}")
    return keys
