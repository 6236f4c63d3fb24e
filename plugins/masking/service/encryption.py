"""Encryption at rest over time: start-up checks, encrypting existing values,
re-encrypting under a new key, blind indexes for bulk inserts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from kehu import search
from kehu.duplicates import apply_keys
from kehu.errors import ConfigError
from kehu.models import Customer

from . import storage
from .crypto import UnknownKey, is_sealed
from .guard import masking_of

if TYPE_CHECKING:
    from kehu import Kehu


log = logging.getLogger(__name__)


PERSONAL_COLUMNS = ("phone", "email", "address", "attributes")
# Encrypted columns that also have a normalised key column (``<column>_key``).
KEYED_COLUMNS = frozenset({"phone", "email"})


async def reseal(kehu: Kehu, *, batch_size: int = 500, progress=None) -> dict[str, int]:
    """Bring every stored value of the encrypted fields to ciphertext under the
    current key: clear values are sealed (``encrypt-existing``), values sealed
    with a previous key are re-sealed (``rotate-key``), blind indexes are rebuilt.

    Works in batches, each its own short transaction, so the server keeps serving
    (old and new ciphertexts both open while ``KEHU_MASKING_PREVIOUS_KEYS`` holds
    the old key). Reads the raw stored values with SQL: through the ORM they would
    already be clear. Returns counts of customers and audit entries rewritten.
    """
    masking = masking_of(kehu)
    sealer = masking.sealer
    if sealer is None:
        raise ConfigError("plugins.masking.encrypted_fields is empty: nothing to encrypt")
    db = kehu.ctx.db()
    postgres = db.capabilities.dialect == "postgres"
    mark = "$1" if postgres else "?"
    mark2 = "$2" if postgres else "?"
    counts = {"customers": 0, "audit_entries": 0, "outbox_events": 0}
    last = 0
    while True:
        rows = await db.execute_query_dict(
            f"SELECT id, phone, email, address, attributes, phone_key, email_key FROM kehu_customer "
            f"WHERE id > {mark} ORDER BY id LIMIT {mark2}",
            [last, batch_size],
        )
        if not rows:
            break
        last = rows[-1]["id"]
        changed = [r for r in rows if _needs_work(sealer, r)]
        if changed:
            ids = [r["id"] for r in changed]
            async with in_transaction():
                customers = await Customer.filter(id__in=ids)  # opened (clear) in memory
                for customer in customers:
                    # Keys of encrypted fields become digests under the current key.
                    keyed = apply_keys(kehu, customer)
                    await customer.save(update_fields=[*PERSONAL_COLUMNS, *keyed])
                await storage.write_blind_indexes(sealer, customers)
            counts["customers"] += len(customers)
        if progress is not None:
            progress("customers", last)
    counts["audit_entries"] = await _reseal_rows(
        kehu, "kehu_audit_entry", "changes", "entity_type", batch_size, lambda r: _audit_stale(sealer, *r)
    )
    counts["outbox_events"] = await _reseal_rows(
        kehu, "kehu_outbox", "arguments", "name", batch_size, lambda r: _event_stale(sealer, r[1])
    )
    if counts["customers"]:
        await search.compact(db)  # the search index forgets the clear values it held
    if kehu.ctx.db().capabilities.dialect == "sqlite":
        # Replaced pages may still hold the clear values: zero them.
        await db.execute_script("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def _needs_work(sealer: storage.Sealer, row: dict[str, Any]) -> bool:
    for column in sealer.columns:
        value = row[column]
        if value is not None and (not is_sealed(value) or sealer.keyring.needs_reseal(value)):
            return True
        key = row.get(f"{column}_key")
        if key is not None and not key.startswith(storage.KEY_PREFIX):
            return True  # a clear key of an encrypted field
    if sealer.attributes:
        attributes = row["attributes"]
        if isinstance(attributes, str):
            attributes = json.loads(attributes or "{}")
        for key in sealer.attributes & set(attributes or {}):
            value = attributes[key]
            if value is not None and (not is_sealed(value) or sealer.keyring.needs_reseal(value)):
                return True
    return False


async def _reseal_rows(
    kehu: Kehu, table: str, column: str, other: str, batch_size: int, stale: Callable[[tuple[Any, Any]], bool]
) -> int:
    """Re-save the rows of ``table`` (audit entries, outbox events) whose JSON
    ``column`` holds a clear value of an encrypted field or a value sealed with a
    previous key: ``stale((row[other], row[column]))`` says which."""
    from kehu.models import AuditEntry, OutboxEvent

    model = {"kehu_audit_entry": AuditEntry, "kehu_outbox": OutboxEvent}[table]
    db = kehu.ctx.db()
    marks = ("$1", "$2") if db.capabilities.dialect == "postgres" else ("?", "?")
    rewritten, last = 0, 0
    while True:
        raw = await db.execute_query_dict(
            f"SELECT id, {other}, {column} FROM {table} WHERE id > {marks[0]} ORDER BY id LIMIT {marks[1]}",
            [last, batch_size],
        )
        if not raw:
            return rewritten
        last = raw[-1]["id"]
        ids = [r["id"] for r in raw if stale((r[other], r[column]))]
        if ids:
            async with in_transaction():
                for row in await model.filter(id__in=ids):  # opened on load, sealed on save
                    await row.save(update_fields=[column])
            rewritten += len(ids)


def _event_stale(sealer: storage.Sealer, raw: Any) -> bool:
    arguments = json.loads(raw) if isinstance(raw, (str, bytes)) else (raw or {})
    if any(is_sealed(v) and sealer.keyring.needs_reseal(v) for v in _change_values(arguments)):
        return True
    return sealer.seal_arguments(arguments) != arguments


def _audit_stale(sealer: storage.Sealer, entity_type: str | None, raw: Any) -> bool:
    changes = json.loads(raw) if isinstance(raw, (str, bytes)) else (raw or {})
    if any(is_sealed(v) and sealer.keyring.needs_reseal(v) for v in _change_values(changes)):
        return True
    # Sealing leaves sealed values alone, so any difference is a clear value.
    return sealer.seal_changes(entity_type, changes) != changes


def _change_values(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _change_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _change_values(v)
    else:
        yield value


async def check_stored_keys(kehu: Kehu) -> None:
    """Refuse to start when stored ciphertext was made with a key we do not have,
    or when a field holds ciphertext but is no longer configured as encrypted."""
    masking = masking_of(kehu)
    db = kehu.ctx.db()
    for column in ("phone", "email", "address"):
        rows = await db.execute_query_dict(
            f"SELECT {column} AS v FROM kehu_customer WHERE {column} LIKE 'kehu:e1:%' LIMIT 1"
        )
        if not rows:
            continue
        if masking.sealer is None or column not in masking.sealer.columns:
            raise ConfigError(
                f"kehu_customer.{column} holds encrypted values but plugins.masking.encrypted_fields does not "
                f"list Customer.{column}: refusing to serve ciphertext"
            )
        key_ids = await db.execute_query_dict(
            f"SELECT DISTINCT substr({column}, 9, 8) AS k FROM kehu_customer WHERE {column} LIKE 'kehu:e1:%'"
        )
        for row in key_ids:
            if not masking.keyring.knows(row["k"]):
                raise ConfigError(str(UnknownKey(row["k"])) + ": refusing to start")


async def clear_value_count(kehu: Kehu) -> int:
    """Customers with a clear value in an encrypted column, or its clear key."""
    masking = masking_of(kehu)
    if masking.sealer is None or not masking.sealer.columns:
        return 0
    parts = []
    for column in sorted(masking.sealer.columns):
        parts.append(f"({column} IS NOT NULL AND {column} NOT LIKE 'kehu:e1:%')")
        if column in KEYED_COLUMNS:
            parts.append(f"({column}_key IS NOT NULL AND {column}_key NOT LIKE '{storage.KEY_PREFIX}%')")
    rows = await kehu.ctx.db().execute_query_dict(f"SELECT COUNT(*) AS n FROM kehu_customer WHERE {' OR '.join(parts)}")
    return int(rows[0]["n"])


async def start(kehu: Kehu) -> None:
    masking = masking_of(kehu)
    masking.check_keys()
    masking.start_encryption()
    await check_stored_keys(kehu)
    if masking.sealer is None:
        return
    db = kehu.ctx.db()
    if db.capabilities.dialect == "sqlite":
        # Overwritten or deleted content is zeroed, so a clear value replaced by
        # its ciphertext does not linger in free pages of the file.
        await db.execute_script("PRAGMA secure_delete = ON")
    if masking.settings.encrypt_existing_on_startup and await clear_value_count(kehu):
        counts = await reseal(kehu)
        log.info("masking: encrypted %d existing customers", counts["customers"])
    if await blind_index_outdated(kehu):
        done = await index_customers(kehu, None)
        log.info("masking: rebuilt the blind index of %d customers (its normalisation changed)", done)


async def blind_index_outdated(kehu: Kehu) -> bool:
    """Whether the stored blind index was computed with another normalisation of
    values than this version's (phone numbers in E.164 since kehu 0.1): checked
    on one customer per encrypted column."""
    from ..models import BlindIndex

    sealer = masking_of(kehu).sealer
    if sealer is None:
        return False
    for column in sorted(sealer.columns):
        row = await BlindIndex.filter(field=f"Customer.{column}").order_by("id").first()
        if row is None:
            continue
        customer = await Customer.get_or_none(id=row.customer_id)
        value = getattr(customer, column, None) if customer is not None else None
        if isinstance(value, str) and value and not is_sealed(value):
            expected = sealer.keyring.blind_indexes(sealer.index_value(column, value), f"Customer.{column}")
            if row.digest not in expected:
                return True
    return False


async def index_customers(kehu: Kehu, customer_ids: list[int] | None, batch_size: int = 1000) -> int:
    """Write blind indexes for customers inserted in bulk (no save signals)."""
    sealer = masking_of(kehu).sealer
    if sealer is None:
        return 0
    done, last = 0, 0
    while True:
        qs = Customer.filter(id__gt=last).order_by("id").limit(batch_size)
        if customer_ids is not None:
            qs = qs.filter(id__in=customer_ids)
        customers = await qs
        if not customers:
            return done
        async with in_transaction():
            await storage.write_blind_indexes(sealer, customers)
        done += len(customers)
        last = customers[-1].id
