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
import secrets
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.expressions import F

from .access import Viewer
from .errors import ValidationError
from .ids import digest as token_digest
from .models import AccessToken, AccountOwner, LoginThrottle, TokenKind

if TYPE_CHECKING:
    from .server.runtime import Kehu

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("kehu-dummy-password")

MIN_PASSWORD_LENGTH = 10
IP_LIMIT_FACTOR = 5
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and check passwords with ``hasher`` from now on in this process.
    kehu.testing lowers argon2's cost for test apps this way; the server never calls it."""
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("kehu-dummy-password")


def hash_password(password: str) -> str:
    check_password_strength(password)
    return _hasher.hash(password)


def check_password_strength(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"must be at least {MIN_PASSWORD_LENGTH} characters", field=field, code="WEAK_PASSWORD")
    if len(password) > 1024:
        raise ValidationError("must be at most 1024 characters", field=field, code="TOO_LONG")


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
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


async def viewer_for_token(kehu: Kehu, token: str) -> Viewer | None:
    """The viewer a bearer token stands for, or None (unknown, expired, revoked,
    or the owner deactivated)."""
    if len(token) > 200:
        return None
    row = await AccessToken.filter(token_hash=token_digest(token), revoked_at=None).select_related("owner").first()
    now = kehu.clock.now()
    if row is None or (row.expires_at is not None and row.expires_at <= now) or not row.owner.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        # At most one write per token per minute: enough to spot stale API tokens.
        await AccessToken.filter(id=row.id).update(last_used_at=now)
    return Viewer(owner=row.owner, permissions=kehu.permissions_for(row.owner.role), token_id=row.id)


class LoginThrottleGuard:
    """Counts failures per key; locks a key after ``limit`` failures."""

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.limit = kehu.config.auth.max_failed_logins
        self.lockout = dt.timedelta(minutes=kehu.config.auth.lockout_minutes)

    async def locked(self, keys: list[str]) -> bool:
        now = self.kehu.clock.now()
        rows = await LoginThrottle.filter(key__in=keys, locked_until__gt=now).count()
        return rows > 0

    async def failure(self, keys: list[str]) -> int:
        """Count a failed sign-in against each key; returns the account's count.
        ``updated_at`` holds the time of the last failure (a success deletes the
        row): failures older than the lockout window no longer count."""
        now = self.kehu.clock.now()
        stale = now - self.lockout
        for key in keys:
            row, created = await LoginThrottle.get_or_create(key=key, defaults={"failures": 1})
            if created:
                await LoginThrottle.filter(key=key).update(updated_at=now)
            elif (row.locked_until is not None and row.locked_until <= now) or (
                row.locked_until is None and row.updated_at < stale
            ):
                # The previous lock has expired, or the last failure is old: count afresh.
                await LoginThrottle.filter(key=key).update(failures=1, locked_until=None, updated_at=now)
                continue
            else:
                # Atomic increment: concurrent failures on two workers both count.
                await LoginThrottle.filter(key=key).update(failures=F("failures") + 1, updated_at=now)
            # An address may serve many people (an office NAT): it gets more tries.
            limit = self.limit * (IP_LIMIT_FACTOR if key.startswith("ip:") else 1)
            await LoginThrottle.filter(key=key, failures__gte=limit, locked_until=None).update(
                locked_until=now + self.lockout
            )

        account = await LoginThrottle.get_or_none(key=keys[0])
        return account.failures if account else 1

    def delay_for(self, failures: int) -> float:
        """Seconds to hold a failed answer back: nothing for the first few mistakes,
        then longer for each further one (capped), before the lock."""
        settings = self.kehu.config.auth
        extra = failures - settings.slow_after_failures
        return min(settings.max_failure_delay_seconds, extra * settings.failure_delay_seconds) if extra > 0 else 0.0

    async def success(self, keys: list[str]) -> None:
        await LoginThrottle.filter(key__in=keys).delete()


def throttle_keys(email: str, client: str | None) -> list[str]:
    keys = [f"email:{email.strip().lower()}"]
    if client:
        keys.append(f"ip:{client}")
    return keys
