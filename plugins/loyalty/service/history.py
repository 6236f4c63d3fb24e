"""Purchases that arrive with their own dates: years of history imported at once
(``kehu_bulk_loaded``), the demo data set, a purchase logged today that happened
last year.

Points are credited as of each purchase's date: dated at the purchase, at the
tier the customer held then, expiring ``expiry_days`` after it; points whose
date has passed are expired in the same run, so the ledger shows both entries
(EARN, then EXPIRE dated when the daily job would have run on the day they
lapsed). Tiers follow as they would have, had the purchases arrived live:
upgrades on the purchase that qualified, downgrades once the qualifying value
fell below the tier and the grace period ran out (only possible with a rolling
window or the spend basis), each as a ``TierChange`` dated when it happened.

Two ways, by what the customer already has:

* **No loyalty history yet** (the usual case of an import): the customer's whole
  purchase history is replayed in Python, in date order, and the entries, the
  tier changes and the account are written in bulk (``kehu.bulk``) — thousands of
  customers a second, one transaction per chunk of customers. While one chunk's
  rows are written (in the database's thread), the next chunk is replayed.
* **A ledger already** (a purchase back-dated into an existing account): the
  purchase is credited through ``post_entry`` dated at the purchase, at the tier
  the tier history says the customer held then, and expiry runs for the
  customer at once. The entries already in the ledger stay as they are — the
  ledger is append-only, so a late purchase never re-prices earlier ones.

Idempotent like live accrual: a purchase's entry is keyed ``purchase:<id>``, an
expiry ``expire-at:<time>``; a second run finds nothing pending.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from kehu import bulk
from kehu.models import Customer, Interaction, InteractionKind
from kehu.writes import write_scope

from ..models import EARNING_KINDS, EntryKind, LedgerEntry, LoyaltyAccount, Referral, TierChange, TierChangeReason
from ..settings import LoyaltySettings, TierSettings

if TYPE_CHECKING:
    from kehu import Kehu

# Customers replayed per transaction: short enough that other writers get a turn
# (a few thousand ledger entries), long enough that commits are not what a
# replay waits on.
CHUNK = 1000
# Customers replayed between turns of the event loop, so that the chunk being
# written meanwhile gets its next statement sent.
_YIELD_EVERY = 50
# The ledger entries the replay writes (``_Replay.entries``), in this order.
LEDGER_COLUMNS = (
    "customer_id",
    "kind",
    "points",
    "balance_after",
    "reason",
    "idempotency_key",
    "created_at",
    "expires_at",
    "interaction_id",
)
_EARN, _EXPIRE, _BONUS = EntryKind.EARN.value, EntryKind.EXPIRE.value, EntryKind.BONUS.value
_EARNING = frozenset(k.value for k in EARNING_KINDS)


@dataclass
class HistoryReport:
    customers: int = 0  # replayed from their first purchase
    purchases: int = 0  # purchases credited (both ways)
    expired: int = 0  # points expired in the same run


@dataclass
class _Purchase:
    id: int
    at: dt.datetime
    amount: Decimal


class _Ladder:
    """The tiers of ``LoyaltySettings`` as the replay looks them up, hundreds of
    thousands of times in an import: by name and by rank from dictionaries, the
    thresholds computed once. The same answers as ``settings.tier``,
    ``settings.rank``, ``settings.threshold`` and ``tiers.tier_for``."""

    def __init__(self, settings: LoyaltySettings):
        self.base = settings.base_tier
        self.tiers = [(tier, settings.threshold(tier)) for tier in settings.tiers]
        self.by_name = {tier.name: tier for tier in reversed(settings.tiers)}  # the first of a name wins
        self.ranks = {tier.name: i for i, tier in reversed(list(enumerate(settings.tiers)))}
        self.thresholds = {tier.name: threshold for tier, threshold in reversed(self.tiers)}

    def tier(self, name: str | None) -> TierSettings:
        return self.by_name.get(name, self.base)  # type: ignore[arg-type]

    def rank(self, name: str | None) -> int:
        return self.ranks.get(name, 0)  # type: ignore[arg-type]

    def threshold(self, name: str | None) -> Decimal:
        return self.thresholds.get(name, self.thresholds[self.base.name])  # type: ignore[arg-type]

    def tier_for(self, value: Decimal) -> TierSettings:
        best = self.base
        for tier, threshold in self.tiers:
            if value >= threshold:
                best = tier
        return best


@dataclass
class _Replay:
    """One customer's loyalty history, computed in memory."""

    customer_id: int
    settings: LoyaltySettings
    now: dt.datetime
    birthday_month: int | None
    ladder: _Ladder
    zone: dt.tzinfo = dt.UTC  # the business calendar's, for the birthday month
    balance: int = 0
    lifetime: int = 0
    tier: str = ""
    tier_since: dt.datetime | None = None
    protected_until: dt.datetime | None = None
    created_at: dt.datetime | None = None
    entries: list[tuple] = field(default_factory=list)
    changes: list[tuple] = field(default_factory=list)
    expiries: list[tuple[dt.datetime, int]] = field(default_factory=list)  # heap of (expires_at, points)
    expiring: int = 0  # credits whose date has passed so far
    expired: int = 0  # points expired so far
    window: deque = field(default_factory=deque)  # (date, value) inside the rolling window
    window_sum: Decimal = Decimal(0)
    exits: list[dt.datetime] = field(default_factory=list)  # heap: when a value leaves the window
    pending_downgrade: dt.datetime | None = None

    # ------------------------------------------------------------------ the value tiers compare

    def _value(self, at: dt.datetime) -> Decimal:
        s = self.settings
        if s.tier_basis == "points" and s.tier_window_days == 0:
            return Decimal(self.lifetime)
        start = at - dt.timedelta(days=s.tier_window_days)
        while self.window and self.window[0][0] < start:
            self.window_sum -= self.window.popleft()[1]
        return self.window_sum

    def _count(self, at: dt.datetime, value: Decimal) -> None:
        self.window.append((at, value))
        self.window_sum += value
        if self.settings.tier_window_days:
            heapq.heappush(self.exits, at + dt.timedelta(days=self.settings.tier_window_days, microseconds=1))

    # ------------------------------------------------------------------ entries

    def _entry(self, kind: str, points: int, at: dt.datetime, key: str, reason: str, interaction_id=None):
        self.balance += points
        expires_at = None
        if points > 0 and self.settings.expiry_days:
            expires_at = at + dt.timedelta(days=self.settings.expiry_days)
            heapq.heappush(self.expiries, (expires_at, points))
        if kind in _EARNING:
            self.lifetime += points
            if self.settings.tier_basis == "points" and self.settings.tier_window_days:
                self._count(at, Decimal(points))
        self.entries.append(
            (self.customer_id, kind, points, self.balance, reason[:500], key, at, expires_at, interaction_id)
        )

    def _tier_change(self, new: str, reason: TierChangeReason, at: dt.datetime) -> None:
        self.changes.append((self.customer_id, self.tier or None, new, reason.value, at))
        self.tier, self.tier_since = new, at
        self.protected_until = at + dt.timedelta(days=self.settings.tier_grace_days)

    # ------------------------------------------------------------------ time passing

    def _advance(self, until: dt.datetime) -> None:
        """Everything that happens by ``until`` on its own: expiries (as the daily
        job would post them) and downgrades once the grace period has run out."""
        expiries, exits = self.expiries, self.exits
        while True:
            at = None  # the earliest of what is due by then
            if expiries and expiries[0][0] <= until:
                at = expiries[0][0]
            if exits and exits[0] <= until and (at is None or exits[0] < at):
                at = exits[0]
            downgrade = self.pending_downgrade
            if downgrade is not None and downgrade <= until and (at is None or downgrade < at):
                at = downgrade
            if at is None:
                return
            while self.expiries and self.expiries[0][0] <= at:
                self.expiring += heapq.heappop(self.expiries)[1]
            due = self.expiring - self.expired
            if due > 0:
                self.expired += due
                self._entry(_EXPIRE, -due, at, f"expire-at:{at.isoformat()}", f"{due} points expired")
            while self.exits and self.exits[0] <= at:
                heapq.heappop(self.exits)
            if self.pending_downgrade is not None and self.pending_downgrade <= at:
                self.pending_downgrade = None
                target = self.ladder.tier_for(self._value(at))
                if self.ladder.rank(target.name) < self.ladder.rank(self.tier):
                    self._tier_change(target.name, TierChangeReason.DOWNGRADE, at)
            self._watch(at)

    def _watch(self, at: dt.datetime) -> None:
        """The review keeps a member who still qualifies in the tier; one who does
        not is downgraded when the grace period runs out (the last review that saw
        them qualify renewed it)."""
        ladder = self.ladder
        if ladder.rank(self.tier) == 0:
            return
        if self._value(at) >= ladder.threshold(self.tier):
            self.pending_downgrade = None
        elif self.pending_downgrade is None:
            renewed = at + dt.timedelta(days=self.settings.tier_grace_days)
            self.pending_downgrade = max(renewed, self.protected_until or renewed)

    # ------------------------------------------------------------------ the replay

    def run(self, purchases: list[_Purchase], first_bonus_key: str | None) -> None:
        from .earning import purchase_points  # earning imports this module

        s, ladder = self.settings, self.ladder
        first = purchases[0].at
        self.created_at = first
        self._tier_change(s.base_tier.name, TierChangeReason.JOINED, first)
        self.protected_until = None
        for index, purchase in enumerate(purchases):
            at = purchase.at
            self._advance(at)
            tier = ladder.tier(self.tier)
            birthday = s.birthday_multiplier > 1 and self.birthday_month == at.astimezone(self.zone).month
            points = purchase_points(s, purchase.amount, tier, birthday)
            if s.tier_basis == "spend":
                self._count(at, Decimal(purchase.amount))
            if points > 0:
                reason = f"purchase of {purchase.amount} at {tier.name} ×{tier.multiplier}" + (
                    " (birthday month)" if birthday else ""
                )
                self._entry(_EARN, points, at, f"purchase:{purchase.id}", reason, purchase.id)
            if index == 0 and first_bonus_key and s.first_purchase_bonus:
                self._entry(_BONUS, s.first_purchase_bonus, at, first_bonus_key, "first purchase bonus", purchase.id)
            target = ladder.tier_for(self._value(at))
            if ladder.rank(target.name) > ladder.rank(self.tier):
                self._tier_change(target.name, TierChangeReason.UPGRADE, at)
            self._watch(at)
        self._advance(self.now)


# --------------------------------------------------------------------------- finding what to do

_PENDING = """
SELECT DISTINCT i.customer_id AS customer_id FROM kehu_interaction i
WHERE i.kind = 'PURCHASE' AND i.amount IS NOT NULL {where} AND {unaccrued}"""
# Purchases without an EARN entry. Over the whole base each database wants a
# different form for one hashed pass: SQLite builds an index for ``NOT IN
# (subquery)`` but runs ``NOT EXISTS`` row by row; PostgreSQL plans ``NOT EXISTS``
# as a hash anti-join but falls back to a scan per row for ``NOT IN`` once the
# subquery outgrows work_mem (measured: minutes, not seconds). For a few customers
# (a new member's first purchase) both look each purchase up in the ledger's
# interaction index with ``NOT EXISTS``: ``NOT IN`` and the hash anti-join read
# every EARN entry of the ledger, a cost that grows with the base (measured: see
# benchmarks/README.md, W3 against the size of the base).
_NOT_EXISTS = "NOT EXISTS (SELECT 1 FROM loyalty_ledger_entry e WHERE e.kind = 'EARN' AND e.interaction_id = i.id)"
_UNACCRUED = {
    "sqlite": "i.id NOT IN (SELECT e.interaction_id FROM loyalty_ledger_entry e "
    "WHERE e.kind = 'EARN' AND e.interaction_id IS NOT NULL)",
    "postgres": _NOT_EXISTS,
}


async def _pending_customers(customer_ids: list[int] | None) -> list[int]:
    """Customers with purchases that have no EARN entry yet."""
    db = Interaction._meta.db
    if customer_ids is not None:
        found: list[int] = []
        for start in range(0, len(customer_ids), 900):
            chunk = customer_ids[start : start + 900]
            where = f"AND i.customer_id IN ({bulk.placeholders(Interaction, len(chunk))})"
            rows = await db.execute_query_dict(_PENDING.format(where=where, unaccrued=_NOT_EXISTS), chunk)
            found += [int(r["customer_id"]) for r in rows]
        return sorted(found)
    unaccrued = _UNACCRUED["postgres" if db.capabilities.dialect == "postgres" else "sqlite"]
    rows = await db.execute_query_dict(_PENDING.format(where="", unaccrued=unaccrued))
    return sorted(int(r["customer_id"]) for r in rows)


def _birthday_month(attributes: Any, settings: LoyaltySettings) -> int | None:
    raw = (attributes or {}).get(settings.birthday_attribute) if isinstance(attributes, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return int(raw.strip().split("-")[-2])
    except (IndexError, ValueError):
        return None


# --------------------------------------------------------------------------- entry points


async def catch_up(kehu: Kehu, customer_ids: list[int] | None = None) -> HistoryReport:
    """Credit every purchase without points yet, as of its date (see the module
    docstring); ``customer_ids`` narrows the search. Safe to repeat."""
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    report = HistoryReport()
    pending = await _pending_customers(customer_ids)
    if not pending:
        return report
    with_ledger = {
        r["customer_id"] for r in await bulk.select_in(LoyaltyAccount, ("customer_id",), "customer_id", pending)
    }
    with_ledger.update(
        r["customer_id"] for r in await bulk.select_in(LedgerEntry, ("customer_id",), "customer_id", pending)
    )
    fresh = [c for c in pending if c not in with_ledger]
    if fresh:
        await _replay_fresh(kehu, settings, fresh, report)
    if with_ledger:
        await _credit_into_ledgers(kehu, sorted(with_ledger), report)
    return report


@dataclass
class _Chunk:
    """A chunk of customers without loyalty history: what the replay reads, then
    the rows it writes."""

    customer_ids: list[int]
    purchases: dict[int, list[_Purchase]]
    months: dict[int, int | None]
    referrals: dict[int, Referral]
    accounts: list[tuple] = field(default_factory=list)
    entries: list[tuple] = field(default_factory=list)
    changes: list[tuple] = field(default_factory=list)
    paid: list[tuple[Referral, dt.datetime]] = field(default_factory=list)  # referrals the replay pays


async def _replay_fresh(kehu: Kehu, settings: LoyaltySettings, fresh: list[int], report: HistoryReport) -> None:
    """Replay chunk after chunk, each written in one transaction. The next chunk
    is read before a chunk's write starts and replayed while it runs: the
    database works in its own thread (aiosqlite; asyncpg's I/O), so Python's
    replay and the database's inserts overlap instead of taking turns. Chunks
    hold different customers, so reading one before the previous one is written
    reads the same."""
    ladder = _Ladder(settings)
    chunks = [fresh[start : start + CHUNK] for start in range(0, len(fresh), CHUNK)]
    writing: asyncio.Future | None = None
    try:
        chunk = await _read_chunk(settings, chunks[0])
        for index in range(len(chunks)):
            await _replay_chunk(kehu, settings, ladder, chunk, report)
            if writing is not None:
                await writing
                writing = None
            replayed = chunk
            if index + 1 < len(chunks):
                chunk = await _read_chunk(settings, chunks[index + 1])
            writing = asyncio.ensure_future(_write_chunk(kehu, settings, replayed))
        if writing is not None:
            await writing
            writing = None
    finally:
        if writing is not None:  # something else failed first: let the write end, and say that
            await asyncio.wait([writing])
            if not writing.cancelled():
                writing.exception()


async def _read_chunk(settings: LoyaltySettings, customer_ids: list[int]) -> _Chunk:
    rows = await bulk.select_in(
        Interaction,
        ("id", "customer_id", "occurred_at", "amount"),
        "customer_id",
        customer_ids,
        where="kind = 'PURCHASE' AND amount IS NOT NULL",
    )
    purchases: dict[int, list[_Purchase]] = {}
    for row in rows:
        purchases.setdefault(row["customer_id"], []).append(_Purchase(row["id"], row["occurred_at"], row["amount"]))
    months: dict[int, int | None] = {}
    if settings.birthday_multiplier > 1:
        for row in await bulk.select_in(Customer, ("id", "attributes"), "id", customer_ids):
            months[row["id"]] = _birthday_month(row["attributes"], settings)
    referrals = {r.referee_id: r for r in await Referral.filter(referee_id__in=customer_ids, rewarded_at__isnull=True)}
    return _Chunk(customer_ids, purchases, months, referrals)


async def _replay_chunk(
    kehu: Kehu, settings: LoyaltySettings, ladder: _Ladder, chunk: _Chunk, report: HistoryReport
) -> None:
    now = kehu.clock.now()
    for number, customer_id in enumerate(chunk.customer_ids, start=1):
        if number % _YIELD_EVERY == 0:
            await asyncio.sleep(0)
        history = chunk.purchases.get(customer_id)
        if not history:
            continue
        for purchase in history:
            if purchase.at > now:  # a purchase dated ahead of the clock counts as of now
                purchase.at = now
        history.sort(key=lambda p: (p.at, p.id))
        replay = _Replay(customer_id, settings, now, chunk.months.get(customer_id), ladder, kehu.calendar.zone)
        replay.run(history, f"first-purchase:{customer_id}")
        chunk.entries += replay.entries
        chunk.changes += replay.changes
        chunk.accounts.append(
            (
                customer_id,
                replay.balance,
                replay.lifetime,
                replay.tier,
                replay.tier_since,
                replay.protected_until,
                replay.created_at,
            )
        )
        referral = chunk.referrals.get(customer_id)
        if referral is not None and replay.created_at is not None:
            chunk.paid.append((referral, replay.created_at))
        report.customers += 1
        report.purchases += sum(1 for e in replay.entries if e[1] == _EARN)
        report.expired += replay.expired


async def _write_chunk(kehu: Kehu, settings: LoyaltySettings, chunk: _Chunk) -> None:
    async with write_scope(kehu, None, "loyalty.replayHistory", actor_label="loyalty history") as scope:
        await bulk.bulk_transaction(LedgerEntry)
        await bulk.insert_rows(
            LoyaltyAccount,
            ("customer_id", "balance", "lifetime_points", "tier", "tier_since", "tier_protected_until", "created_at"),
            chunk.accounts,
        )
        await bulk.insert_rows(LedgerEntry, LEDGER_COLUMNS, chunk.entries)
        await bulk.insert_rows(
            TierChange, ("customer_id", "from_tier", "to_tier", "reason", "changed_at"), chunk.changes
        )
        if chunk.paid:
            from .earning import pay_referral  # earning imports this module

            for referral, at in chunk.paid:  # referrers are paid on the referee's first purchase, as live
                await pay_referral(settings, referral, at)
        scope.entity_type = "LoyaltyAccount"
        scope.changes.update(customers=len(chunk.accounts), entries=len(chunk.entries), tier_changes=len(chunk.changes))


async def _credit_into_ledgers(kehu: Kehu, customer_ids: list[int], report: HistoryReport) -> None:
    """Customers with a ledger already: each pending purchase through
    ``accrue_purchase`` (dated at the purchase), oldest first."""
    from .earning import accrue_purchase

    done = LedgerEntry.filter(kind=EntryKind.EARN, interaction_id__isnull=False)
    for start in range(0, len(customer_ids), 200):
        chunk = customer_ids[start : start + 200]
        credited = set(await done.filter(customer_id__in=chunk).values_list("interaction_id", flat=True))
        pending = [
            i
            for i in await Interaction.filter(
                customer_id__in=chunk, kind=InteractionKind.PURCHASE, amount__isnull=False
            ).order_by("occurred_at", "id")
            if i.id not in credited
        ]
        async with in_transaction():  # accruals are savepoints inside: one commit per chunk
            for interaction in pending:
                posting = await accrue_purchase(kehu, interaction)
                if posting is not None and posting.created:
                    report.purchases += 1
