"""The points ledger: accounts, entries posted with their balance change in one
statement, idempotency keys, and the input checks every write shares.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.errors import Conflict, NotFound, ValidationError
from kehu.models import AccountOwner, Customer

from ..models import EARNING_KINDS, EntryKind, LedgerEntry, LoyaltyAccount, TierChange, TierChangeReason
from ..settings import LoyaltySettings

if TYPE_CHECKING:
    from kehu import Kehu


MAX_KEY_LENGTH = 200
# Voucher codes: no 0/O, 1/I/L; 10 characters ≈ 50 bits, so guessing one is hopeless.


def viewer_for(kehu: Kehu, owner: AccountOwner) -> Viewer:
    """The viewer acting as ``owner`` (for jobs and tests outside a request)."""
    return Viewer(owner=owner, permissions=kehu.permissions_for(owner.role))


def _key(value: Any, field: str = "idempotencyKey") -> str:
    key = v.text(value, field, max_length=MAX_KEY_LENGTH, required=True)
    if ":" in key:
        # Keys with a colon are reserved for the system's own entries ("purchase:17").
        raise ValidationError("must not contain ':'", field=field, code="INVALID_KEY")
    return key


def _points(value: Any, settings: LoyaltySettings, field: str = "points", *, signed: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("must be a whole number of points", field=field)
    if value == 0 or (value < 0 and not signed):
        raise ValidationError("must be positive" if not signed else "must not be 0", field=field, code="INVALID_POINTS")
    if abs(value) > settings.max_manual_points:
        raise ValidationError(f"must be at most {settings.max_manual_points} points", field=field, code="TOO_LARGE")
    return value


async def _member_customer(viewer: Viewer | None, customer_id: int, field: str = "customerId") -> Customer:
    """A customer the viewer may see and who is not archived."""
    customer = await visible_customers(viewer).filter(id=customer_id).first()
    if customer is None:
        raise NotFound("no such customer", field=field)
    if customer.archived_at is not None:
        raise ValidationError("the customer is archived", field=field, code="ARCHIVED")
    return customer


async def ensure_account(settings: LoyaltySettings, customer_id: int, now: dt.datetime) -> LoyaltyAccount:
    """The customer's account, created (in the base tier) on first use.

    ``INSERT … ON CONFLICT DO NOTHING`` (``OR IGNORE`` on SQLite) lets two first
    writes for a customer race without either failing.

    An existing account is read ``FOR UPDATE`` (PostgreSQL; SQLite has one writer
    anyway): every write to a customer's points takes the account's row lock first,
    before it inserts a ledger entry's unique key. Taking them the other way round
    deadlocks against a catch-up that credits several purchases in one transaction
    (it holds the account's lock from the first and then inserts the next key).
    """
    account = await LoyaltyAccount.filter(customer_id=customer_id).select_for_update().first()
    if account is not None:
        return account
    base = settings.base_tier.name
    await LoyaltyAccount.bulk_create(
        [LoyaltyAccount(customer_id=customer_id, tier=base, tier_since=now, created_at=now)],
        ignore_conflicts=True,
    )
    account = await LoyaltyAccount.get(customer_id=customer_id)
    if account.created_at == now and not await TierChange.exists(customer_id=customer_id):
        await TierChange.create(
            customer_id=customer_id, from_tier=None, to_tier=base, reason=TierChangeReason.JOINED, changed_at=now
        )
    return account


@dataclass
class Posting:
    """The result of posting an entry: the entry, and whether this call created it
    (False: the idempotency key had been used and this is the first result)."""

    entry: LedgerEntry
    created: bool


def _replay(entry: LedgerEntry, kind: EntryKind, points: int | None) -> Posting:
    if entry.kind != kind or (points is not None and entry.points != points):
        raise Conflict(
            "this idempotency key was already used for a different request",
            field="idempotencyKey",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return Posting(entry, created=False)


async def find_entry(customer_id: int, key: str) -> LedgerEntry | None:
    return await LedgerEntry.get_or_none(customer_id=customer_id, idempotency_key=key)


async def post_entry(
    settings: LoyaltySettings,
    customer_id: int,
    kind: EntryKind,
    points: int,
    *,
    key: str,
    now: dt.datetime,
    reason: str = "",
    actor_id: int | None = None,
    interaction_id: int | None = None,
    replay_points: int | None = None,
    account: LoyaltyAccount | None = None,
) -> Posting:
    """Append one entry and move the cached balance with it, atomically.

    A debit that the balance cannot cover raises ``ValidationError``
    (``INSUFFICIENT_POINTS``) and, like any exception here, undoes the whole write.
    Must run inside a transaction (a write scope). ``account``: the customer's
    account as ``ensure_account`` returned it in this transaction (its row lock is
    held; not read again); its balance and lifetime points are brought up to date.
    """
    if points < 0:
        # A repeated debit is its first result, not INSUFFICIENT_POINTS: its key is
        # looked up before the balance is. A credit cannot fail before its key is
        # checked, so the insert's unique key checks it (repeats are rare).
        existing = await find_entry(customer_id, key)
        if existing is not None:
            return _replay(existing, kind, replay_points)
    if account is None:
        account = await ensure_account(settings, customer_id, now)
    expires_at = None
    if points > 0 and settings.expiry_days:
        expires_at = now + dt.timedelta(days=settings.expiry_days)
    try:
        # A savepoint: a duplicate key undoes only this balance change and insert.
        # The account's row first (the lock order ensure_account explains), its new
        # balance returned by the same statement and written into the entry.
        async with in_transaction():
            moved = await _move_balance(customer_id, points, earning=kind in EARNING_KINDS)
            if moved is None:
                balance = await LoyaltyAccount.filter(customer_id=customer_id).values_list("balance", flat=True)
                raise ValidationError(
                    f"not enough points: {-points} needed, {balance[0] if balance else 0} available",
                    field="points" if kind is EntryKind.ADJUST else "customerId",
                    code="INSUFFICIENT_POINTS",
                )
            entry = await LedgerEntry.create(
                customer_id=customer_id,
                kind=kind,
                points=points,
                balance_after=moved[0],
                reason=reason,
                idempotency_key=key,
                created_at=now,
                expires_at=expires_at,
                actor_id=actor_id,
                interaction_id=interaction_id,
            )
    except IntegrityError:
        # A concurrent request with the same key committed first: its result is ours.
        existing = await find_entry(customer_id, key)
        if existing is None:
            raise
        return _replay(existing, kind, replay_points)
    account.balance, account.lifetime_points = moved
    return Posting(entry, created=True)


async def _move_balance(customer_id: int, points: int, *, earning: bool) -> tuple[int, int] | None:
    """Move the account's balance (and lifetime points for an earning) by
    ``points`` in one statement that returns the new ``(balance, lifetime_points)``;
    None when a debit is larger than the balance (nothing moved). The row stays
    locked by this update until commit, so what it returns is our own result."""
    table = LoyaltyAccount._meta.db_table
    sets = "balance = balance + $1" + (", lifetime_points = lifetime_points + $1" if earning else "")
    guard, params = "", [points, customer_id]
    if points < 0:
        guard, params = " AND balance >= $3", [points, customer_id, -points]
    rows = await LoyaltyAccount._meta.db.execute_query_dict(
        f"UPDATE {table} SET {sets} WHERE customer_id = $2{guard} RETURNING balance, lifetime_points", params
    )
    return (rows[0]["balance"], rows[0]["lifetime_points"]) if rows else None
