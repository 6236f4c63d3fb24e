"""Duplicate customers: normalised keys kept with every write, exact duplicates
caught before they are written, candidate pairs for review, and the scan of the
whole base. No GraphQL here; merging two records of one customer is
``kehu.merges``.

**Keys.** Every write of a customer's name, e-mail or phone also writes its keys
(``apply_keys``; ``kehu.matching`` says what they are). An e-mail or phone that
the masking plugin encrypts at rest gets a keyed digest as its key
(``FieldGuard.stored_key``), so exact lookups still use an index and no clear
value is stored.

**Prevention.** ``check_new_values`` runs before a customer is created or given
another e-mail or phone. A customer with the same e-mail or phone key that the
caller may see stops the write (``DuplicateCustomer``, code
``DUPLICATE_CUSTOMER``, naming the field and carrying the existing customers)
unless the caller says the duplicate is deliberate. One the caller may *not* see
says nothing: the customer is written as if there were none, and the pair is
flagged for review (``note_entry``) — it appears in ``duplicateCandidates`` for
whoever may see both records, a manager of both teams or an administrator.

**Candidates.** Pairs (``DuplicatePair``) come from three places: the write
itself (``note_entry``: exact matches the writer could not see, and likely
duplicates among customers with the same e-mail, phone or name in pinyin),
imports that create a customer although its key is taken, and ``scan`` — all
customers against all, through blocking keys (``kehu.matching.Profile.blocks``)
rather than all pairs. A dismissed pair ("not a duplicate") stays dismissed:
neither the scan nor a later write proposes it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from . import matching
from .access import Viewer, visible_customers
from .errors import NotFound, ValidationError
from .ids import to_global_id
from .models import Customer, DuplicatePair, DuplicateSource, DuplicateStatus
from .policies import FieldGuard, Strategy
from .writes import current_scope, record_change, write_scope

if TYPE_CHECKING:
    from .server.runtime import Kehu

log = logging.getLogger(__name__)

KEY_COLUMNS = matching.CustomerKeys.COLUMNS
# Key columns' widths (kehu.models.Customer): a longer key is cut to fit.
_KEY_WIDTHS = {"email_key": 254, "phone_key": 100, "name_key": 200, "name_pinyin": 400, "name_initials": 100}
# What a customer's keys are computed from.
KEYED_FIELDS = ("name", "email", "phone")
# The fields a duplicate is caught on before it is written (an external id is
# unique by itself: DUPLICATE_EXTERNAL_ID).
EXACT_FIELDS = ("email", "phone")
REASON_OF = {"email": matching.Reason.SAME_EMAIL, "phone": matching.Reason.SAME_PHONE}
# The most existing customers one check names (a shared inbox may have many).
MAX_EXACT_MATCHES = 20


def current_kehu(kehu: Kehu | None = None) -> Kehu | None:
    """``kehu``, or that of the write being made."""
    if kehu is not None:
        return kehu
    try:
        return current_scope().kehu
    except RuntimeError:
        return None


def phone_region(kehu: Kehu | None) -> str:
    """Where a phone number without a country code is: ``[kehu] phone_region``."""
    return kehu.config.kehu.phone_region if kehu is not None else matching.DEFAULT_PHONE_REGION


def _guard(kehu: Kehu | None) -> FieldGuard:
    return kehu.field_guard if kehu is not None else FieldGuard()


# --------------------------------------------------------------------------- keys


def stored_keys(
    kehu: Kehu | None,
    name: str | None,
    email: str | None,
    phone: str | None,
    *,
    clear: matching.CustomerKeys | None = None,
) -> dict[str, str | None]:
    """The key columns' values for a customer with this name, e-mail and phone,
    as they are stored (digests where the field is encrypted at rest). ``clear``:
    their ``matching.customer_keys``, when the caller has them already (imports)."""
    keys = (clear or matching.customer_keys(name, email, phone, phone_region(kehu))).values()
    guard = _guard(kehu)
    keys["email_key"] = guard.stored_key("email", keys["email_key"])
    keys["phone_key"] = guard.stored_key("phone", keys["phone_key"])
    return {column: value[: _KEY_WIDTHS[column]] if value else value for column, value in keys.items()}


def apply_keys(kehu: Kehu | None, customer: Customer) -> list[str]:
    """Set ``customer``'s key columns from its name, e-mail and phone; returns the
    columns whose value changed (to add to ``save(update_fields=…)``)."""
    changed = []
    for column, value in stored_keys(current_kehu(kehu), customer.name, customer.email, customer.phone).items():
        if getattr(customer, column) != value:
            setattr(customer, column, value)
            changed.append(column)
    return changed


async def rekey(kehu: Kehu, *, only_missing: bool = False, batch_size: int = 1000, progress=None) -> int:
    """Recompute the keys of every customer (``kehu dedupe rekey``: after a change
    of ``[kehu] phone_region``, or of which fields are encrypted) — or, with
    ``only_missing``, of those written without them (an upgrade, a raw insert).
    Each batch is its own short transaction. Returns the customers rewritten."""
    done, last = 0, 0
    while True:
        qs = Customer.filter(id__gt=last).order_by("id").limit(batch_size)
        if only_missing:
            qs = qs.filter(name_pinyin__isnull=True)
        customers = await qs
        if not customers:
            return done
        async with in_transaction():
            for customer in customers:
                changed = apply_keys(kehu, customer)
                if changed:
                    await Customer.filter(id=customer.id).update(**{c: getattr(customer, c) for c in changed})
                    done += 1
        last = customers[-1].id
        if progress is not None:
            progress(last)


async def customers_by_key(
    kehu: Kehu | None, column: str, keys: Iterable[str], columns: Sequence[str] = ("id",)
) -> dict[str, list[dict[str, Any]]]:
    """Customers (merged-away ones left out) whose normalised ``column`` key
    (``email``, ``phone``) is one of ``keys`` (as ``kehu.matching`` makes them):
    ``{key: [row, …]}``, each row a dict of ``columns``. In chunks, by index."""
    from . import bulk

    guard = _guard(current_kehu(kehu))
    forms: dict[str, str] = {}
    for key in keys:
        for form in guard.stored_forms(column, key):
            forms[form] = key
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not forms:
        return found
    key_column = f"{column}_key"
    wanted = tuple(dict.fromkeys((*columns, key_column)))
    for row in await bulk.select_in(Customer, wanted, key_column, list(forms), where='"merged_into_id" IS NULL'):
        found[forms[row[key_column]]].append(row)
    return found


# --------------------------------------------------------------------------- exact duplicates


@dataclass
class Match:
    """An existing customer with the same key as the values being written."""

    customer: Customer
    fields: list[str]  # "email", "phone"


async def exact_matches(
    kehu: Kehu | None, *, email: str | None = None, phone: str | None = None, exclude: Iterable[int] = ()
) -> list[Match]:
    """Customers (any owner, archived included, merged-away ones not) whose
    e-mail or phone key equals that of ``email`` / ``phone``; at most ``MAX_EXACT_MATCHES``."""
    kehu = current_kehu(kehu)
    guard = _guard(kehu)
    wanted = {
        "email": matching.email_key(email),
        "phone": matching.phone_key(phone, phone_region(kehu)),
    }
    conditions = [guard.key_condition(name, key) for name, key in wanted.items() if key]
    if not conditions:
        return []
    qs = Customer.filter(merged_into_id__isnull=True).filter(Q(*conditions, join_type=Q.OR))
    exclude = [i for i in exclude if i is not None]
    if exclude:
        qs = qs.exclude(id__in=exclude)
    matches = []
    region = phone_region(kehu)
    for customer in await qs.order_by("id").limit(MAX_EXACT_MATCHES):
        # Which field matched, from the clear values in memory (stored keys may be digests).
        clear = matching.customer_keys(None, customer.email, customer.phone, region)
        fields = [n for n in EXACT_FIELDS if wanted[n] and getattr(clear, f"{n}_key") == wanted[n]]
        matches.append(Match(customer, fields or ["email"]))
    return matches


class DuplicateCustomer(ValidationError):
    """The values being written belong to a customer the writer may see
    (code ``DUPLICATE_CUSTOMER``); ``matches`` names them."""

    code = "DUPLICATE_CUSTOMER"

    def __init__(self, matches: list[Match]):
        first = matches[0]
        field = first.fields[0]
        what = {"email": "e-mail address", "phone": "phone number"}[field]
        others = f" (and {len(matches) - 1} more)" if len(matches) > 1 else ""
        super().__init__(
            f"customer {to_global_id('Customer', first.customer.id)}{others} already has this {what}; "
            "open it, or send allowDuplicate: true to create another",
            field=field,
        )
        self.matches = matches

    def by_field(self) -> list[tuple[str, list[Customer]]]:
        """``(field, customers)`` for each field that matched, in field order."""
        out = []
        for name in EXACT_FIELDS:
            customers = [m.customer for m in self.matches if name in m.fields]
            if customers:
                out.append((name, customers))
        return out


@dataclass
class EntryCheck:
    """What ``check_new_values`` found, for ``note_entry`` once the customer is written."""

    matches: list[Match] = field(default_factory=list)
    told_ids: set[int] = field(default_factory=set)  # the matches the writer was (or may be) told of
    allowed: bool = False


async def reportable(
    kehu: Kehu | None, viewer: Viewer | None, matches: Sequence[tuple[int, int | None, Sequence[str]]]
) -> set[int]:
    """Of ``matches`` — ``(customer id, its owner id, the fields that matched)`` —
    the customers the writer may be told of: those they may see, with every
    matched field shown to them in clear. Telling a writer "customer X already has
    this phone number" reveals X's number; a writer who sees it masked (an
    analyst, a role the masking plugin limits) is told nothing, and the pair is
    flagged for review instead."""
    if not matches:
        return set()
    ids = [pk for pk, _, _ in matches]
    visible = {pk for (pk,) in await visible_customers(viewer).filter(id__in=ids).values_list("id")}
    guard = _guard(current_kehu(kehu))
    return {
        pk
        for pk, owner_id, fields in matches
        if pk in visible
        and all(guard.strategy(viewer, f"Customer.{name}", owner_id=owner_id) is Strategy.CLEAR for name in fields)
    }


async def check_new_values(
    viewer: Viewer,
    *,
    email: str | None,
    phone: str | None,
    customer_id: int | None = None,
    allow: bool = False,
    kehu: Kehu | None = None,
) -> EntryCheck:
    """Before a customer is created (``customer_id`` None) or given this e-mail
    or phone: raise ``DuplicateCustomer`` if a customer the viewer may be told of
    (``reportable``) has them — unless ``allow`` (a deliberate duplicate). Other
    customers change nothing here: the caller learns nothing of them."""
    exclude: list[int] = []
    if customer_id is not None:
        merged_into_it = await Customer.filter(merged_into_id=customer_id).values_list("id")
        exclude = [customer_id, *(pk for (pk,) in merged_into_it)]
    matches = await exact_matches(kehu, email=email, phone=phone, exclude=exclude)
    if not matches:
        return EntryCheck()
    told = await reportable(kehu, viewer, [(m.customer.id, m.customer.owner_id, m.fields) for m in matches])
    if told and not allow:
        raise DuplicateCustomer([m for m in matches if m.customer.id in told])
    return EntryCheck(matches, told, allow)


async def note_entry(kehu: Kehu | None, viewer: Viewer | None, customer: Customer, check: EntryCheck) -> int:
    """After a customer was created or changed: record the pairs to review.

    Exact matches the writer could not see are flagged (OPEN) whatever their
    score; those the writer saw and created anyway are recorded as decided
    (DISMISSED, by the writer). Likely duplicates among customers sharing an
    e-mail, phone or pinyin name are added when they score as candidates.
    Returns the pairs recorded."""
    kehu = current_kehu(kehu)
    now = kehu.clock.now() if kehu is not None else dt.datetime.now(dt.UTC)
    exact = {m.customer.id: m for m in check.matches}
    others = await _same_key_customers(kehu, customer, exclude=[customer.id, *exact])
    candidates = [m.customer for m in check.matches] + others
    if not candidates:
        return 0
    region = phone_region(kehu)
    mine = _profile(customer, region)
    profiles = [_profile(c, region) for c in candidates]
    freq = matching.Frequencies.of([mine, *profiles])
    recorded = 0
    for other, profile in zip(candidates, profiles):
        score, reasons = matching.compare(mine, profile, freq)
        match = exact.get(other.id)
        status = DuplicateStatus.OPEN
        if match is not None:
            reasons = list(dict.fromkeys([*(REASON_OF[f] for f in match.fields), *reasons]))
            if check.allowed and other.id in check.told_ids:
                status = DuplicateStatus.DISMISSED
        elif score < matching.CANDIDATE_SCORE:
            continue
        decided = status is DuplicateStatus.DISMISSED
        recorded += await upsert_pair(
            customer.id,
            other.id,
            score,
            reasons,
            source=DuplicateSource.ENTRY,
            now=now,
            status=status,
            decided_by=viewer.id if decided and viewer else None,
            note="created deliberately (allowDuplicate)" if decided else "",
        )
    return recorded


async def _same_key_customers(kehu: Kehu | None, customer: Customer, exclude: Sequence[int]) -> list[Customer]:
    """Other customers (not merged away) sharing an e-mail, phone or pinyin
    name key with ``customer``: the ones worth scoring against it. At most 200."""
    guard = _guard(kehu)
    keys = matching.customer_keys(customer.name, customer.email, customer.phone, phone_region(kehu))
    conditions = []
    if keys.email_key:
        conditions.append(guard.key_condition("email", keys.email_key))
    if keys.phone_key:
        conditions.append(guard.key_condition("phone", keys.phone_key))
    forms = matching.name_orders(matching.romanize(customer.name))
    if forms:
        conditions.append(Q(name_pinyin__in=list(forms)))
    if not conditions:
        return []
    qs = Customer.filter(Q(*conditions, join_type=Q.OR), merged_into_id__isnull=True, archived_at__isnull=True)
    return await qs.exclude(id__in=list(exclude)).order_by("-id").limit(200)


def _profile(customer: Customer, region: str) -> matching.Profile:
    attributes = customer.attributes if isinstance(customer.attributes, dict) else {}
    company = attributes.get("company")
    return matching.Profile.of(
        customer.id,
        name=customer.name,
        kind=getattr(customer.kind, "value", customer.kind),
        email=customer.email,
        phone=customer.phone,
        region=customer.region,
        address=customer.address,
        company=company if isinstance(company, str) else None,
        owner_id=customer.owner_id,
        phone_region=region,
    )


async def upsert_pair(
    first: int,
    second: int,
    score: int,
    reasons: Iterable[Any],
    *,
    source: DuplicateSource,
    now: dt.datetime,
    status: DuplicateStatus = DuplicateStatus.OPEN,
    decided_by: int | None = None,
    note: str = "",
) -> int:
    """Record that two customers may be one; returns 1 if a pair was written.
    A pair already dismissed is left as it is (it stays dismissed)."""
    a, b = sorted((first, second))
    if a == b:
        return 0
    reasons = [getattr(r, "value", r) for r in reasons]
    existing = await DuplicatePair.filter(customer_a_id=a, customer_b_id=b).first()
    if existing is not None:
        if existing.status is DuplicateStatus.DISMISSED:
            return 0
        existing.score, existing.reasons = score, reasons
        fields = ["score", "reasons"]
        if status is DuplicateStatus.DISMISSED:
            existing.status, existing.decided_at, existing.decided_by_id, existing.note = status, now, decided_by, note
            fields += ["status", "decided_at", "decided_by_id", "note"]
        await existing.save(update_fields=fields)
        return 1
    await DuplicatePair.create(
        customer_a_id=a,
        customer_b_id=b,
        score=score,
        reasons=reasons,
        source=source,
        status=status,
        found_at=now,
        decided_at=now if status is DuplicateStatus.DISMISSED else None,
        decided_by_id=decided_by,
        note=note,
    )
    return 1


# --------------------------------------------------------------------------- review


# What a pair's score and reasons are drawn from: a viewer who sees any of them
# masked would learn from a pair what the masking hides ("these two have the same
# phone number"), so such a viewer is shown no pairs (or only pairs of their own
# customers, where the masking plugin's owner_sees_clear shows those in clear).
MATCHED_FIELDS = (
    "Customer.name",
    "Customer.email",
    "Customer.phone",
    "Customer.address",
    "Customer.region",
    "Customer.attributes",
)


def pair_scope(kehu: Kehu | None, viewer: Viewer | None) -> str:
    """Which candidate pairs ``viewer`` may see, as far as masking goes: ``all``
    (every matched field in clear), ``own`` (in clear on the customers they own
    only) or ``none``."""
    guard = _guard(current_kehu(kehu))
    if all(guard.strategy(viewer, key) is Strategy.CLEAR for key in MATCHED_FIELDS):
        return "all"
    if viewer is not None and all(
        guard.strategy(viewer, key, owner_id=viewer.id) is Strategy.CLEAR for key in MATCHED_FIELDS
    ):
        return "own"
    return "none"


def visible_pairs(
    viewer: Viewer | None,
    *,
    status: DuplicateStatus | None = DuplicateStatus.OPEN,
    customer_id: int | None = None,
    min_score: int | None = None,
    kehu: Kehu | None = None,
):
    """The pairs whose two customers the viewer may both see, with every field
    the pair's score rests on in clear (``pair_scope``) — nothing else, so a pair
    never tells of a customer outside the viewer's scope, nor of a masked value."""
    scope = pair_scope(kehu, viewer)
    if scope == "none":
        return DuplicatePair.filter(id__lt=0)
    customers = visible_customers(viewer)
    if scope == "own":
        customers = customers.filter(owner_id=viewer.id if viewer is not None else None)
    ids = Subquery(customers.values("id"))
    qs = DuplicatePair.filter(customer_a_id__in=ids).filter(customer_b_id__in=ids)
    if status is not None:
        qs = qs.filter(status=status)
    if customer_id is not None:
        qs = qs.filter(Q(customer_a_id=customer_id) | Q(customer_b_id=customer_id))
    if min_score is not None:
        qs = qs.filter(score__gte=min_score)
    return qs


async def decide_pair(
    viewer: Viewer, pair_id: int, status: DuplicateStatus, now: dt.datetime, note: str | None = None
) -> DuplicatePair:
    """Dismiss a pair as "not a duplicate" (it is never proposed again) or reopen
    it. Needs ``customers.merge`` and both customers visible."""
    viewer.require("customers.merge")
    pair = await visible_pairs(viewer, status=None).filter(id=pair_id).first()
    if pair is None:
        raise NotFound("no such duplicate candidate", field="id")
    note_text = (note or "").strip()
    if len(note_text) > 500:
        raise ValidationError("must be at most 500 characters", field="note", code="TOO_LONG")
    if pair.status is status:
        return pair
    before = pair.status
    pair.status = status
    pair.decided_at = now if status is DuplicateStatus.DISMISSED else None
    pair.decided_by_id = viewer.id if status is DuplicateStatus.DISMISSED else None
    pair.note = note_text if status is DuplicateStatus.DISMISSED else ""
    await pair.save(update_fields=["status", "decided_at", "decided_by_id", "note"])
    record_change(
        "DuplicatePair",
        pair.id,
        {
            "status": (before, status),
            "customers": (
                None,
                [to_global_id("Customer", pair.customer_a_id), to_global_id("Customer", pair.customer_b_id)],
            ),
        },
    )
    return pair


# --------------------------------------------------------------------------- the scan

# Blocks larger than this are split by region (a customer without one joins each
# part); parts still larger are skipped — a key shared by hundreds of customers
# (a placeholder e-mail, the commonest names) tells nothing about any pair.
SPLIT_BLOCK = 50
MAX_BLOCK = 200
SCAN_PAGE = 5000


@dataclass
class FoundPair:
    """A pair the scan found: the two customer ids (``a < b``), score and reasons."""

    a: int
    b: int
    score: int
    reasons: list[str]


@dataclass
class ScanReport:
    """What ``scan`` did."""

    customers: int = 0
    blocks: int = 0  # blocking keys shared by two customers or more
    compared: int = 0  # distinct pairs scored
    skipped_blocks: int = 0  # too large even by region
    found: int = 0  # pairs scoring as candidates
    new: int = 0
    updated: int = 0
    still_dismissed: int = 0
    removed: int = 0  # open pairs no longer found
    seconds: float = 0.0
    pairs: list[FoundPair] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.customers:,} customers, {self.compared:,} pairs compared in {self.blocks:,} blocks: "
            f"{self.found:,} candidates ({self.new:,} new, {self.updated:,} still open, "
            f"{self.still_dismissed:,} dismissed before), {self.removed:,} no longer found; {self.seconds:.1f}s"
        )


async def load_profiles(kehu: Kehu | None, progress: Callable[[int], Any] | None = None) -> list[matching.Profile]:
    """Every active customer as ``kehu.matching.Profile``, read in pages by id
    (through the ORM, so encrypted fields are opened in memory only)."""
    region = phone_region(kehu)
    profiles: list[matching.Profile] = []
    last = 0
    columns = ("id", "name", "kind", "email", "phone", "region", "address", "attributes", "owner_id")
    while True:
        page = await (
            Customer.filter(id__gt=last, archived_at__isnull=True, merged_into_id__isnull=True)
            .order_by("id")
            .limit(SCAN_PAGE)
            .values_list(*columns)
        )
        for pk, name, kind, email, phone, region_name, address, attributes, owner_id in page:
            company = attributes.get("company") if isinstance(attributes, dict) else None
            profiles.append(
                matching.Profile.of(
                    pk,
                    name=name,
                    kind=getattr(kind, "value", kind),
                    email=email,
                    phone=phone,
                    region=region_name,
                    address=address,
                    company=company if isinstance(company, str) else None,
                    owner_id=owner_id,
                    phone_region=region,
                )
            )
        if progress is not None:
            progress(len(profiles))
        if len(page) < SCAN_PAGE:
            return profiles
        last = page[-1][0]


def candidate_pairs(profiles: Sequence[matching.Profile], report: ScanReport | None = None) -> set[tuple[int, int]]:
    """The pairs (indexes into ``profiles``) worth scoring: those sharing a
    blocking key (``Profile.blocks``).

    From the one-letter-less variants of names, only pairs with a name that is
    not all pinyin syllables are taken: "Wang Wei" and "Wang Fei" share such a
    variant but are two names, while "Wang Wie" is a typo. Keys are held as
    their hashes (a collision only adds a pair to score)."""
    report = report or ScanReport()
    suspect = [not p.pinyin for p in profiles]
    regions = [p.region for p in profiles]
    # hash of key -> the one member's index, or the list of them; name variants apart.
    variants: dict[int, Any] = {}
    others: dict[int, Any] = {}
    for index, profile in enumerate(profiles):
        for key in profile.blocks():
            table = variants if key[1] == "~" and key[0] == "n" else others
            h = hash(key)
            slot = table.get(h)
            if slot is None:
                table[h] = index
            elif slot.__class__ is int:
                if slot != index:
                    table[h] = [slot, index]
            elif slot[-1] != index:
                slot.append(index)
    pairs: set[tuple[int, int]] = set()
    for table, typo_names in ((others, False), (variants, True)):
        for members in table.values():
            if members.__class__ is int:
                continue
            report.blocks += 1
            for part in _split(members, regions, report):
                _add_pairs(part, pairs, suspect if typo_names else None)
    return pairs


def _split(members: list[int], regions: list[str | None], report: ScanReport) -> list[list[int]]:
    if len(members) <= SPLIT_BLOCK:
        return [members]
    by_region: dict[str | None, list[int]] = defaultdict(list)
    for index in members:
        by_region[regions[index]].append(index)
    unknown = by_region.pop(None, [])
    parts = [group + unknown for group in by_region.values()] or [unknown]
    out = []
    for part in parts:
        if len(part) > MAX_BLOCK:
            report.skipped_blocks += 1
        elif len(part) > 1:
            out.append(part)
    return out


def _add_pairs(members: list[int], pairs: set[tuple[int, int]], suspect: list[bool] | None) -> None:
    members = sorted(members)
    for i, first in enumerate(members):
        for second in members[i + 1 :]:
            if suspect is None or suspect[first] or suspect[second]:
                pairs.add((first, second))


def score_pairs(
    profiles: Sequence[matching.Profile], pairs: Iterable[tuple[int, int]], min_score: int, report: ScanReport
) -> list[FoundPair]:
    """Score each pair; those at ``min_score`` or above, best first."""
    freq = matching.Frequencies.of(profiles)
    found = []
    for first, second in pairs:
        report.compared += 1
        a, b = profiles[first], profiles[second]
        score, reasons = matching.compare(a, b, freq)
        if score >= min_score:
            low, high = sorted((a.id, b.id))
            found.append(FoundPair(low, high, score, [r.value for r in reasons]))
    found.sort(key=lambda p: (-p.score, p.a, p.b))
    return found


async def scan(
    kehu: Kehu,
    *,
    min_score: int = matching.CANDIDATE_SCORE,
    dry_run: bool = False,
    progress: Callable[[str, int], Any] | None = None,
    actor_label: str = "kehu dedupe scan",
) -> ScanReport:
    """Find candidate pairs among all active customers and store them.

    Pairs found are added (or, if still open, re-scored); dismissed pairs stay
    dismissed; open pairs an earlier scan found and this one does not (the data
    changed) are removed. With
    ``dry_run`` nothing is stored. The stored result is one write with one audit
    entry (operation ``dedupeScan``)."""
    if not 1 <= min_score <= 100:
        raise ValidationError("must be between 1 and 100", field="min_score", code="OUT_OF_RANGE")
    started = time.perf_counter()
    report = ScanReport()
    profiles = await load_profiles(kehu, (lambda n: progress("read", n)) if progress else None)
    report.customers = len(profiles)
    pairs = candidate_pairs(profiles, report)
    if progress is not None:
        progress("compare", len(pairs))
    report.pairs = score_pairs(profiles, pairs, min_score, report)
    del pairs
    report.found = len(report.pairs)
    if not dry_run:
        await _store_scan(kehu, report, actor_label)
    report.seconds = time.perf_counter() - started
    return report


async def _store_scan(kehu: Kehu, report: ScanReport, actor_label: str) -> None:
    now = kehu.clock.now()
    async with write_scope(kehu, None, "dedupeScan", actor_label=actor_label) as scope:
        existing = {
            (a, b): (pk, status, source)
            for pk, a, b, status, source in await DuplicatePair.all().values_list(
                "id", "customer_a_id", "customer_b_id", "status", "source"
            )
        }
        found = set()
        new, updates = [], []
        for pair in report.pairs:
            key = (pair.a, pair.b)
            found.add(key)
            if key not in existing:
                new.append(
                    DuplicatePair(
                        customer_a_id=pair.a,
                        customer_b_id=pair.b,
                        score=pair.score,
                        reasons=pair.reasons,
                        source=DuplicateSource.SCAN,
                        found_at=now,
                    )
                )
            elif existing[key][1] == DuplicateStatus.DISMISSED:
                report.still_dismissed += 1
            else:
                updates.append((existing[key][0], pair))
        for start in range(0, len(new), 1000):
            await DuplicatePair.bulk_create(new[start : start + 1000])
        for pk, pair in updates:
            await DuplicatePair.filter(id=pk).update(score=pair.score, reasons=pair.reasons)
        # Only what an earlier scan found goes: a pair flagged when a customer was
        # written or imported (an exact match the writer could not see) stays until
        # someone decides, whatever the scan scores it now.
        stale = [
            pk
            for key, (pk, status, source) in existing.items()
            if status == DuplicateStatus.OPEN and source == DuplicateSource.SCAN and key not in found
        ]
        for start in range(0, len(stale), 500):
            await DuplicatePair.filter(id__in=stale[start : start + 500]).delete()
        report.new, report.updated, report.removed = len(new), len(updates), len(stale)
        scope.entity_type = "DuplicatePair"
        scope.changes.update(
            {
                "customers": report.customers,
                "found": report.found,
                "new": report.new,
                "removed": report.removed,
                "still_dismissed": report.still_dismissed,
            }
        )
