"""Account owners, sign-in sessions and API tokens."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from . import validation as v
from .access import Viewer, visible_owners
from .credentials import (
    LoginThrottleGuard,
    check_password_strength,
    hash_password,
    issue_token,
    throttle_keys,
    verify_password,
)
from .errors import Conflict, NotFound, PermissionDenied, ValidationError
from .models import AccessToken, AccountOwner, Role, TokenKind
from .writes import record_change

if TYPE_CHECKING:
    from .server.runtime import Kehu

OWNER_FIELDS = ("name", "email", "role", "team", "active")


def clean_owner_fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Validated account-owner fields from ``data`` (all required when ``creating``)."""
    out: dict[str, Any] = {}
    if creating or "name" in data:
        out["name"] = v.text(data.get("name"), "name", max_length=200, required=True)
    if creating or "email" in data:
        out["email"] = (v.email(data.get("email"), required=True) or "").lower()
    if creating or "role" in data:
        out["role"] = v.choice(data.get("role"), Role, "role")
    if "team" in data:
        out["team"] = v.text(data["team"], "team", max_length=100) or ""
    if "active" in data and data["active"] is not None:
        out["active"] = bool(data["active"])
    return out


async def create_account_owner(viewer: Viewer | None, data: dict[str, Any]) -> AccountOwner:
    """Create a staff account. ``viewer`` None is the bootstrap path (``kehu init``)."""
    if viewer is not None:
        viewer.require("owners.manage")
    values = clean_owner_fields(data, creating=True)
    password = data.get("password")
    if password is None:
        raise ValidationError("an initial password is required", field="password", code="REQUIRED")
    password_hash = hash_password(password, email=values["email"], name=values["name"])
    if await AccountOwner.filter(email=values["email"]).exists():
        raise ValidationError("an account owner with this e-mail exists", field="email", code="DUPLICATE")
    owner = await AccountOwner.create(**values, password_hash=password_hash)
    record_change("AccountOwner", owner.id, {k: (None, getattr(owner, k)) for k in values})
    return owner


async def update_account_owner(
    viewer: Viewer, owner_id: int, data: dict[str, Any], now: dt.datetime | None = None
) -> AccountOwner:
    """Change an account owner (``owners.manage``); an admin cannot demote or
    deactivate themself."""
    viewer.require("owners.manage")
    owner = await visible_owners(viewer).filter(id=owner_id).first()
    if owner is None:
        raise NotFound("no such account owner", field="id")
    values = clean_owner_fields(data, creating=False)
    if "email" in values and values["email"] != owner.email:
        if await AccountOwner.filter(email=values["email"]).exclude(id=owner.id).exists():
            raise ValidationError("an account owner with this e-mail exists", field="email", code="DUPLICATE")
    if owner.id == viewer.id and (values.get("active") is False or values.get("role", Role.ADMIN) is not Role.ADMIN):
        raise ValidationError("you cannot demote or deactivate yourself", field="id", code="SELF_LOCKOUT")
    changes = {k: (getattr(owner, k), new) for k, new in values.items() if getattr(owner, k) != new}
    for name, (_, new) in changes.items():
        setattr(owner, name, new)
    if changes:
        await owner.save(update_fields=[*changes, "updated_at"])
        if values.get("active") is False:
            await AccessToken.filter(owner_id=owner.id, revoked_at=None).update(
                revoked_at=now or dt.datetime.now(dt.UTC)
            )
    record_change("AccountOwner", owner.id, changes)
    return owner


async def authenticate(kehu: Kehu, email: Any, password: Any, client: str | None) -> AccountOwner:
    """Check credentials against the throttle. Every failure raises the same
    ValidationError, so the answer does not reveal which accounts exist. Attempts
    are counted before the password is checked, at once (not inside the caller's
    transaction): see ``LoginThrottleGuard``."""
    email = (v.text(email, "email", max_length=254, required=True) or "").lower()
    guard = LoginThrottleGuard(kehu)
    keys = throttle_keys(email, client)
    attempts = await guard.reserve(keys)
    if attempts is None:
        raise ValidationError("too many failed sign-ins: try again later", field="email", code="LOCKED_OUT")
    owner = await AccountOwner.filter(email=email, active=True, is_service=False).first()
    ok = isinstance(password, str) and 0 < len(password) <= 1024
    # argon2 releases the GIL: checked in a thread, the event loop keeps serving
    # (and keeps counting the other attempts of a burst) meanwhile.
    if not (ok and await asyncio.to_thread(verify_password, owner.password_hash if owner else None, password)):
        delay = guard.delay_for(attempts)
        if delay:
            await kehu.clock.sleep(delay)  # slowed, then locked
        raise ValidationError("e-mail or password is wrong", field="password", code="INVALID_CREDENTIALS")
    if not await guard.success(keys):
        raise ValidationError("too many failed sign-ins: try again later", field="email", code="LOCKED_OUT")
    assert owner is not None  # verify_password refuses a missing hash
    return owner


async def open_session(kehu: Kehu, owner: AccountOwner) -> tuple[str, AccessToken]:
    """Issue a sign-in token for ``owner`` lasting ``[auth] session_hours``: ``(token, row)``."""
    expires = kehu.clock.now() + dt.timedelta(hours=kehu.config.auth.session_hours)
    token, row = await issue_token(owner, TokenKind.SESSION, expires)
    record_change("AccessToken", row.id, {"kind": (None, "SESSION"), "owner_id": (None, owner.id)})
    return token, row


async def logout(viewer: Viewer, now: dt.datetime) -> None:
    """Revoke the token the viewer signed in with."""
    if viewer.token_id is None:
        return
    await AccessToken.filter(id=viewer.token_id).update(revoked_at=now)
    record_change("AccessToken", viewer.token_id, {"revoked_at": (None, now)})


async def change_password(viewer: Viewer, current: str, new: str, now: dt.datetime) -> None:
    """Change the viewer's own password (the current one is checked) and end their
    other sessions."""
    owner = await AccountOwner.get(id=viewer.id)
    if owner.is_service:
        raise PermissionDenied("service accounts have no password")
    if not verify_password(owner.password_hash, current or ""):
        raise ValidationError("current password is wrong", field="currentPassword", code="INVALID_CREDENTIALS")
    check_password_strength(new, "newPassword", email=owner.email, name=owner.name)
    if new == current:
        raise ValidationError("must differ from the current password", field="newPassword")
    owner.password_hash = hash_password(new, email=owner.email, name=owner.name)
    await owner.save(update_fields=["password_hash", "updated_at"])
    # Other sessions end: a changed password is often a response to a leak.
    await (
        AccessToken.filter(owner_id=owner.id, kind=TokenKind.SESSION, revoked_at=None)
        .exclude(id=viewer.token_id or 0)
        .update(revoked_at=now)
    )
    record_change("AccountOwner", owner.id, {"password": ("***", "***")})


async def set_language(viewer: Viewer, language: Any) -> AccountOwner:
    """The viewer's own language for pages (``kehu.i18n.Language``); ``None``
    goes back to following the browser."""
    from .i18n import Language

    try:
        chosen = None if language is None else Language(language).value
    except ValueError:
        allowed = ", ".join(lang.value for lang in Language)
        raise ValidationError(f"'{language}' is not one of {allowed}", field="language") from None
    owner = await AccountOwner.get(id=viewer.id)
    if owner.language != chosen:
        record_change("AccountOwner", owner.id, {"language": (owner.language, chosen)})
        owner.language = chosen
        await owner.save(update_fields=["language", "updated_at"])
    return owner


async def create_api_token(
    viewer: Viewer, name: Any, role: Any, expires_at: dt.datetime | None
) -> tuple[str, AccessToken]:
    """A named token for an integration: it acts as a service account of ``role``."""
    viewer.require("tokens.manage")
    name = v.text(name, "name", max_length=100, required=True)
    role = v.choice(role, Role, "role")
    if await AccessToken.filter(kind=TokenKind.API, name=name, revoked_at=None).exists():
        raise ValidationError("an active API token with this name exists", field="name", code="DUPLICATE")
    slug = "".join(ch if ch.isalnum() else "-" for ch in name.lower())[:40]
    service = await AccountOwner.create(
        name=f"API token: {name}",
        # Random, not a timestamp: two tokens whose names slug alike ("crm sync",
        # "crm-sync", or a re-created revoked one) may be created in the same second.
        email=f"token-{slug}-{secrets.token_hex(6)}@service.kehu.invalid",
        role=role,
        is_service=True,
        team=viewer.team,
    )
    token, row = await issue_token(service, TokenKind.API, expires_at, name=name)
    row.owner = service
    record_change("AccessToken", row.id, {"name": (None, name), "role": (None, role)})
    return token, row


async def revoke_api_token(viewer: Viewer, token_id: int, now: dt.datetime) -> AccessToken:
    """Revoke an API token (``tokens.manage``) and deactivate its service account."""
    viewer.require("tokens.manage")
    row = await AccessToken.filter(id=token_id, kind=TokenKind.API).select_related("owner").first()
    if row is None:
        raise NotFound("no such API token", field="id")
    if row.revoked_at is not None:
        raise Conflict("token is already revoked", field="id")
    row.revoked_at = now
    await row.save(update_fields=["revoked_at"])
    await AccountOwner.filter(id=row.owner_id).update(active=False)
    record_change("AccessToken", row.id, {"revoked_at": (None, now)})
    return row
