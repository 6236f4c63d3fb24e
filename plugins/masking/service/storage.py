"""Encryption at rest of core columns, below the ORM.

The core reads and writes ``Customer.phone`` as usual; what reaches the database
is ciphertext. Each encrypted column's Tortoise field gets a ``to_db_value`` that
seals after the field's own validation (so length rules apply to the clear
value), and a ``to_python_value`` that opens on load — so every path through the
ORM (GraphQL, exports, imports, ``values_list``, plugins) sees clear values, and
only the database sees ciphertext. Bulk inserts (import, demo) go through
``to_db_value`` too: no clear value is ever written.

Tortoise hands native column types (text) to the model without calling
``to_python_value``; the encrypted columns are moved to its "complex" list (the
ones that are converted) when the plugin starts. The field objects are shared by
every application in the process, so the hooks look up the sealer of the *current*
Tortoise context and do nothing where masking is not enabled.

Audit entries hold before/after values, so their ``changes`` are sealed the same
way, field by field; so are the ``changes`` an outbox event of a customer carries
(``kehu_customer_updated``'s arguments, kept for ``[events] keep_days``). Blind-index rows are kept by a ``post_save`` listener; bulk
inserts, which fire no signals, are indexed on ``kehu_bulk_loaded``.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any

from tortoise.context import TortoiseContext, get_current_context
from tortoise.signals import post_save

from kehu.matching import email_key, phone_key
from kehu.models import AuditEntry, Customer, OutboxEvent

from ..settings import ENCRYPTABLE_COLUMNS
from .crypto import Keyring, is_sealed


class Sealer:
    """What one application encrypts, and with which keys."""

    def __init__(
        self, keyring: Keyring, columns: tuple[str, ...], attributes: tuple[str, ...], phone_region: str | None = None
    ):
        self.keyring = keyring
        self.columns = frozenset(columns)
        self.attributes = frozenset(attributes)
        self.phone_region = phone_region

    # -- columns and attributes -----------------------------------------------------

    def seal_column(self, column: str, value: Any) -> Any:
        if column in self.columns and isinstance(value, str) and not is_sealed(value):
            return self.keyring.seal(value, f"Customer.{column}")
        return value

    def open_column(self, column: str, value: Any) -> Any:
        if is_sealed(value):
            return self.keyring.open(value, f"Customer.{column}")
        return value

    def seal_attributes(self, value: Any) -> Any:
        if not self.attributes or not isinstance(value, dict):
            return value
        out = dict(value)
        for key in self.attributes & out.keys():
            item = out[key]
            if item is not None and not is_sealed(item):
                out[key] = self.keyring.seal(json.dumps(item, ensure_ascii=False), f"Customer.attributes.{key}")
        return out

    def open_attributes(self, value: Any) -> Any:
        if not isinstance(value, dict) or not any(is_sealed(v) for v in value.values()):
            return value
        return {
            k: json.loads(self.keyring.open(v, f"Customer.attributes.{k}")) if is_sealed(v) else v
            for k, v in value.items()
        }

    def blind_index_values(self, customer: Any) -> list[tuple[str, str]]:
        """``(field, digest)`` rows for a customer's encrypted values, current key."""
        rows = []
        for column in sorted(self.columns):
            value = getattr(customer, column, None)
            if isinstance(value, str) and value and not is_sealed(value):
                key = f"Customer.{column}"
                rows.append((key, self.keyring.blind_indexes(self.index_value(column, value), key)[0]))
        attributes = getattr(customer, "attributes", None) or {}
        for name in sorted(self.attributes):
            value = attributes.get(name) if isinstance(attributes, dict) else None
            if value is not None and not is_sealed(value):
                key = f"Customer.attributes.{name}"
                rows.append((key, self.keyring.blind_indexes(normalise(name, str(value)), key)[0]))
        return rows

    def index_value(self, column: str, value: str) -> str:
        """What the blind index of an encrypted column holds a digest of: the
        value's normalised key (``kehu.matching``: an e-mail case-folded, a phone
        number in E.164), so an exact lookup matches it however it is written."""
        if column == "phone":
            return phone_key(value, self.phone_region) or value.strip()
        if column == "email":
            return email_key(value) or value.strip()
        return value.strip()

    def key_digest(self, column: str, key: str) -> str:
        """The stored form of a customer's ``<column>_key`` while the column is
        encrypted: the blind-index digest under the current key, marked."""
        return KEY_PREFIX + self.keyring.blind_indexes(key, f"Customer.{column}")[0]

    def key_digests(self, column: str, key: str) -> list[str]:
        """Every stored form ``key`` may have (current and previous keys)."""
        return [KEY_PREFIX + digest for digest in self.keyring.blind_indexes(key, f"Customer.{column}")]

    # -- audit entries --------------------------------------------------------------

    def _convert_changes(self, changes: Any, convert: Callable[[str, Any], Any]) -> Any:
        """Apply ``convert(column, value)`` to each before/after value of an
        encrypted customer field in ``changes`` (its own and nested "Customer:<id>")."""
        if not isinstance(changes, dict):
            return changes
        out = {}
        for name, entry in changes.items():
            if isinstance(name, str) and name.startswith("Customer:") and isinstance(entry, dict):
                out[name] = self._convert_entry_fields(entry, convert)
            else:
                out[name] = entry
        return out

    def _convert_entry_fields(self, entry: dict, convert: Callable[[str, Any], Any]) -> dict:
        out = {}
        for name, change in entry.items():
            if (name in self.columns or name == "attributes" or name in ENCRYPTABLE_COLUMNS) and isinstance(
                change, dict
            ):
                out[name] = {k: convert(name, v) if k in ("before", "after") else v for k, v in change.items()}
            else:
                out[name] = change
        return out

    def _seal(self, column: str, value: Any) -> Any:
        return self.seal_attributes(value) if column == "attributes" else self.seal_column(column, value)

    def _open(self, column: str, value: Any) -> Any:
        return self.open_attributes(value) if column == "attributes" else self.open_column(column, value)

    def seal_changes(self, entity_type: str | None, changes: Any) -> Any:
        changes = self._convert_changes(changes, self._seal)
        if entity_type == "Customer" and isinstance(changes, dict):
            changes = self._convert_entry_fields(changes, self._seal)
        return changes

    def open_changes(self, changes: Any) -> Any:
        if not isinstance(changes, dict) or "kehu:e1:" not in json.dumps(changes, default=str):
            return changes
        return self._convert_entry_fields(self._convert_changes(changes, self._open), self._open)

    # -- outbox events ------------------------------------------------------------------

    def _convert_arguments(self, arguments: Any, convert: Callable[[str, Any], Any]) -> Any:
        """Apply ``convert(column, value)`` to each before/after value of an encrypted
        field in the ``changes`` of an event about a customer. The outbox stores
        arguments encoded (kehu.server.outbox.encode): the customer as a reference,
        each change as ``{"$tuple": [before, after]}``."""
        if not isinstance(arguments, dict) or not isinstance(arguments.get("changes"), dict):
            return arguments
        if not any(isinstance(v, dict) and v.get("$model") == "core.Customer" for v in arguments.values()):
            return arguments
        changes = {}
        for name, change in arguments["changes"].items():
            pair = change.get("$tuple") if isinstance(change, dict) else None
            if (name in self.columns or name == "attributes") and isinstance(pair, list):
                change = {"$tuple": [convert(name, value) for value in pair]}
            changes[name] = change
        return {**arguments, "changes": changes}

    def seal_arguments(self, arguments: Any) -> Any:
        return self._convert_arguments(arguments, self._seal)

    def open_arguments(self, arguments: Any) -> Any:
        return self._convert_arguments(arguments, self._open)


# Marks a key column's value as a digest (never the clear key of an encrypted field).
KEY_PREFIX = "kehu:b1:"


def normalise(kind_or_column: str, value: str) -> str:
    """What pseudonyms (HASH) and attribute lookups compare: phone numbers by
    their digits (and a leading +), e-mail addresses case-insensitively, anything
    else trimmed. (Encrypted columns' blind indexes use ``Sealer.index_value``.)"""
    value = value.strip()
    if "phone" in kind_or_column:
        return ("+" if value.startswith("+") else "") + "".join(ch for ch in value if ch.isdigit())
    if "email" in kind_or_column:
        return value.lower()
    return value


# --------------------------------------------------------------------------- the ORM hooks

_sealers: dict[int, Sealer] = {}
_installed = False


def active() -> Sealer | None:
    ctx = get_current_context()
    return _sealers.get(id(ctx)) if ctx is not None else None


def _bind(field_object: Any, to_db_value: Callable, to_python_value: Callable) -> None:
    # Bound methods, like the originals: Tortoise's values() skips converters that
    # are plain functions (it takes them for its identity lambdas).
    field_object.to_db_value = types.MethodType(to_db_value, field_object)
    field_object.to_python_value = types.MethodType(to_python_value, field_object)


def _column_hooks(field_object: Any, column: str) -> None:
    to_db, to_python = field_object.to_db_value, field_object.to_python_value

    def to_db_value(_field: Any, value: Any, instance: Any) -> Any:
        value = to_db(value, instance)  # the field's own checks see the clear value
        sealer = active()
        return sealer.seal_column(column, value) if sealer is not None else value

    def to_python_value(_field: Any, value: Any) -> Any:
        value = to_python(value)
        if is_sealed(value):
            sealer = active()
            if sealer is not None:
                return sealer.open_column(column, value)
        return value

    _bind(field_object, to_db_value, to_python_value)


def _attributes_hooks(field_object: Any) -> None:
    to_db, to_python = field_object.to_db_value, field_object.to_python_value

    def to_db_value(_field: Any, value: Any, instance: Any) -> Any:
        sealer = active()
        return to_db(sealer.seal_attributes(value) if sealer is not None else value, instance)

    def to_python_value(_field: Any, value: Any) -> Any:
        value = to_python(value)
        sealer = active()
        return sealer.open_attributes(value) if sealer is not None else value

    _bind(field_object, to_db_value, to_python_value)


def _json_hooks(
    field_object: Any, seal: Callable[[Sealer, Any, Any], Any], open_: Callable[[Sealer, Any], Any]
) -> None:
    """A JSON column sealed in part: ``seal(sealer, instance, value)`` before it is
    written, ``open_(sealer, value)`` after it is read."""
    to_db, to_python = field_object.to_db_value, field_object.to_python_value

    def to_db_value(_field: Any, value: Any, instance: Any) -> Any:
        sealer = active()
        if sealer is not None:
            value = seal(sealer, instance, value)
        return to_db(value, instance)

    def to_python_value(_field: Any, value: Any) -> Any:
        value = to_python(value)
        sealer = active()
        return open_(sealer, value) if sealer is not None else value

    _bind(field_object, to_db_value, to_python_value)


async def _index_saved_customer(sender, instance, created, using_db, update_fields) -> None:
    sealer = active()
    if sealer is None:
        return
    touched = set(update_fields) if update_fields else None
    if touched is not None and not (touched & (sealer.columns | ({"attributes"} if sealer.attributes else set()))):
        return
    await write_blind_indexes(sealer, [instance], using_db)


async def write_blind_indexes(sealer: Sealer, customers: list[Any], using_db: Any = None) -> None:
    """Replace the blind-index rows of ``customers`` (clear values in memory)."""
    from ..models import BlindIndex

    if not customers:
        return
    ids = [c.pk for c in customers]
    query = BlindIndex.filter(customer_id__in=ids)
    await (query.using_db(using_db) if using_db is not None else query).delete()
    rows = [
        BlindIndex(customer_id=c.pk, field=key, digest=digest)
        for c in customers
        for key, digest in sealer.blind_index_values(c)
    ]
    if rows:
        await BlindIndex.bulk_create(rows, using_db=using_db)


def install(ctx: TortoiseContext, sealer: Sealer) -> None:
    """Encrypt ``sealer``'s fields in this Tortoise context (call after init)."""
    global _installed
    if not _installed:
        fields_map = Customer._meta.fields_map
        for column in ENCRYPTABLE_COLUMNS:
            _column_hooks(fields_map[column], column)
        _attributes_hooks(fields_map["attributes"])
        _json_hooks(
            AuditEntry._meta.fields_map["changes"],
            lambda sealer, entry, value: sealer.seal_changes(getattr(entry, "entity_type", None), value),
            Sealer.open_changes,
        )
        _json_hooks(
            OutboxEvent._meta.fields_map["arguments"],
            lambda sealer, _event, value: sealer.seal_arguments(value),
            Sealer.open_arguments,
        )
        post_save(Customer)(_index_saved_customer)
        _installed = True
    meta = Customer._meta
    for entry in list(meta.db_native_fields):
        if entry[1] in ENCRYPTABLE_COLUMNS:
            meta.db_native_fields.remove(entry)
            meta.db_complex_fields.append(entry)
    _sealers[id(ctx)] = sealer


def uninstall(ctx: TortoiseContext | None) -> None:
    if ctx is not None:
        _sealers.pop(id(ctx), None)
