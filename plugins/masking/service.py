"""Masking rules: strategies, the compiled policy table, the field guard the core
asks, reveals with their disclosure log, and the encryption maintenance jobs.

No GraphQL here.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.utils.str_converters import to_camel_case, to_snake_case
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from kehu.access import Viewer
from kehu.errors import ConfigError, PermissionDenied, ValidationError
from kehu.models import Customer
from kehu.policies import FieldGuard, FieldPolicy, Strategy

from . import storage
from .crypto import KeyError_, Keyring, UnknownKey, is_sealed, pseudonym, pseudonym_key_from_environment
from .settings import MaskingSettings

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger("kehu.masking")

REDACTED = "[redacted]"
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ALWAYS_TRUSTED = frozenset({"core", "masking"})


# --------------------------------------------------------------------------- strategies


def partial(kind: str, value: str) -> str:
    """A partial view: 138****5678, j***@example.com, 张*, J*** D***."""
    value = value.strip()
    if not value:
        return value
    if kind == "phone":
        country, _, rest = value[1:].partition(" ") if value.startswith("+") else ("", "", value)
        if country.isdigit() and rest:  # "+86 138 1234 5678": keep the country code
            return f"+{country} {partial(kind, rest)}"
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) >= 8:
            return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
        return "*" * max(len(digits) - 2, 1) + digits[-2:]
    if kind == "email":
        local, at, domain = value.rpartition("@")
        return (local[:1] + "***" + at + domain) if at else value[:1] + "***"
    if kind == "name":
        if CJK.search(value):
            return value[0] + "*" * (len(value) - 1)
        return " ".join(word[0] + "***" for word in value.split())
    if kind == "id_number":
        if len(value) >= 8:
            return value[:3] + "*" * (len(value) - 7) + value[-4:]
        return "*" * len(value)
    return value[:3] + "***" if len(value) > 6 else value[:1] + "***"


def last4(kind: str, value: str) -> str:
    chars = "".join(ch for ch in value if ch.isdigit()) if kind == "phone" else value.strip()
    return "****" + chars[-4:] if len(chars) > 4 else "****"


def apply_strategy(strategy: Strategy, kind: str, value: Any, pseudonym_key: bytes | None) -> Any:
    """``value`` shown with ``strategy``. ``None`` stays ``None``; lists are masked
    item by item; anything unexpected is redacted (fail closed)."""
    if value is None or strategy is Strategy.CLEAR:
        return value
    if isinstance(value, (list, tuple)):
        return [apply_strategy(strategy, kind, v, pseudonym_key) for v in value]
    if isinstance(value, dict):
        return {}
    if not isinstance(value, str):
        value = str(value)
    if strategy is Strategy.PARTIAL:
        return partial(kind, value)
    if strategy is Strategy.LAST4:
        return last4(kind, value)
    if strategy is Strategy.HASH and pseudonym_key is not None:
        return pseudonym(pseudonym_key, storage.normalise(kind, value))
    return REDACTED


# --------------------------------------------------------------------------- the policy table


@dataclass(frozen=True)
class CompiledPolicy:
    policy: FieldPolicy
    by_role: dict[str, Strategy]

    def for_role(self, role: str) -> Strategy:
        # Fail closed: a role the policy does not name sees the field redacted.
        return self.by_role.get(role, Strategy.REDACT)


class Masking(FieldGuard):
    """One application's masking: policies with plugins.toml's overrides, keys,
    and the answers the core asks for (``kehu.field_guard``)."""

    def __init__(self, kehu: Kehu, settings: MaskingSettings, environ: dict[str, str] | None = None):
        self.kehu = kehu
        self.settings = settings
        self.policies: dict[str, CompiledPolicy] = {}
        for policy in kehu.field_policies:
            overrides = {role.value: s for role, s in settings.fields.get(policy.key, {}).items()}
            self.policies[policy.key] = CompiledPolicy(policy, {**policy.roles, **overrides})
        unknown = sorted(set(settings.fields) - set(self.policies))
        if unknown:
            raise ConfigError(
                f"plugins.masking.fields: no plugin declares a policy for {unknown[0]} "
                f"(declared: {', '.join(sorted(self.policies))})"
            )
        try:
            self.keyring = Keyring.from_environment(environ)
            self.pseudonym_key = pseudonym_key_from_environment(self.keyring, environ)
        except KeyError_ as exc:
            raise ConfigError(str(exc)) from None
        self.by_type: dict[str, list[tuple[str, CompiledPolicy]]] = {}
        for _key, compiled in self.policies.items():
            attr = to_snake_case(compiled.policy.field_name)
            self.by_type.setdefault(compiled.policy.type_name, []).append((attr, compiled))
        self.trusted = ALWAYS_TRUSTED | set(settings.trusted_plugins)
        self.sealer: storage.Sealer | None = None

    # -- start-up checks ------------------------------------------------------------

    def check_keys(self) -> None:
        """Refuse to start rather than serve garbage or fail later."""
        uses_hash = any(s is Strategy.HASH for c in self.policies.values() for s in c.by_role.values())
        if uses_hash and self.pseudonym_key is None:
            raise ConfigError(
                "plugins.masking: the HASH strategy needs a key: set KEHU_MASKING_KEY "
                "(or KEHU_MASKING_PSEUDONYM_KEY) in the environment"
            )
        if self.settings.encrypted_fields and self.keyring is None:
            raise ConfigError(
                "plugins.masking.encrypted_fields is set but KEHU_MASKING_KEY is not: "
                "refusing to start (the key lives in the environment, never in plugins.toml)"
            )

    # -- what a viewer sees -----------------------------------------------------------

    def strategy(self, viewer: Viewer | None, key: str, *, owner_id: int | None = None) -> Strategy:
        compiled = self.policies.get(key)
        if compiled is None:
            return Strategy.CLEAR
        if viewer is None:
            return Strategy.REDACT
        if self.settings.owner_sees_clear and owner_id is not None and owner_id == viewer.id:
            return Strategy.CLEAR
        return compiled.for_role(viewer.role.value)

    def show(self, strategy: Strategy, compiled: CompiledPolicy, value: Any) -> Any:
        if strategy is Strategy.CLEAR or value is None:
            return value
        if compiled.policy.kind == "attributes":
            return self.mask_attributes(strategy, value)
        return apply_strategy(strategy, compiled.policy.kind, value, self.pseudonym_key)

    def mask_attributes(self, strategy: Strategy, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        personal = self.settings.personal_attributes
        return {
            k: apply_strategy(strategy, personal[k], v, self.pseudonym_key) if k in personal else v
            for k, v in value.items()
        }

    def mask(self, viewer: Viewer | None, key: str, value: Any, *, owner_id: int | None = None) -> Any:
        compiled = self.policies.get(key)
        if compiled is None:
            return value
        return self.show(self.strategy(viewer, key, owner_id=owner_id), compiled, value)

    def search_condition(self, viewer: Viewer | None, key: str, column: str, term: str) -> Any:
        if self.strategy(viewer, key) is not Strategy.CLEAR:
            return None  # masked: not searchable, so a count says nothing about the value
        if self.sealer is not None and column in self.sealer.columns:
            from .models import BlindIndex

            digests = self.keyring.blind_indexes(storage.normalise(column, term), key)
            return Q(id__in=Subquery(BlindIndex.filter(field=key, digest__in=digests).values("customer_id")))
        return super().search_condition(viewer, key, column, term)

    def audit_changes(self, viewer: Viewer | None, entity_type: str | None, changes: Any) -> Any:
        if not isinstance(changes, dict):
            return changes
        out = {}
        for name, entry in changes.items():
            nested_type, _, _ = str(name).partition(":")
            if ":" in str(name) and isinstance(entry, dict) and nested_type in self.by_type:
                out[name] = self._mask_entry(viewer, nested_type, entry)
            else:
                out[name] = entry
        if entity_type in self.by_type:
            out = self._mask_entry(viewer, entity_type, out)
        return out

    def _mask_entry(self, viewer: Viewer | None, type_name: str, entry: dict) -> dict:
        out = dict(entry)
        for name, change in entry.items():
            key = f"{type_name}.{to_camel_case(str(name))}"
            if key in self.policies and isinstance(change, dict):
                out[name] = {k: self.mask(viewer, key, v) if k in ("before", "after") else v for k, v in change.items()}
        return out

    # -- event payloads -----------------------------------------------------------------

    def event_arguments(self, plugin: str, hook: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if plugin in self.trusted:
            return arguments
        role = self.settings.untrusted_role.value
        out = {}
        for name, value in arguments.items():
            if name == "changes" and isinstance(value, dict) and "customer" in arguments:
                out[name] = {
                    field: tuple(self._for_role(role, f"Customer.{to_camel_case(field)}", v) for v in pair)
                    for field, pair in value.items()
                }
            else:
                out[name] = self.masked_copy(value, role)
        return out

    def _for_role(self, role: str, key: str, value: Any) -> Any:
        compiled = self.policies.get(key)
        return value if compiled is None else self.show(compiled.for_role(role), compiled, value)

    def masked_copy(self, obj: Any, role: str) -> Any:
        """A read-only copy of a model instance with its personal fields masked as
        ``role`` sees them (related customers loaded on it too)."""
        fields = self.by_type.get(type(obj).__name__)
        related = getattr(obj, "_customer", None) if hasattr(obj, "customer_id") else None
        if not fields and not isinstance(related, Customer):
            return obj
        clone = copy.copy(obj)
        for attr, compiled in fields or ():
            object.__setattr__(clone, attr, self.show(compiled.for_role(role), compiled, getattr(obj, attr, None)))
        if isinstance(related, Customer):
            object.__setattr__(clone, "_customer", self.masked_copy(related, role))
        for method in ("save", "delete", "update_from_dict", "refresh_from_db"):
            object.__setattr__(clone, method, _read_only)
        return clone

    # -- encryption ---------------------------------------------------------------------

    def start_encryption(self) -> None:
        if not self.settings.encrypted_fields:
            return
        assert self.keyring is not None
        self.sealer = storage.Sealer(self.keyring, self.settings.encrypted_columns, self.settings.encrypted_attributes)
        storage.install(self.kehu.ctx, self.sealer)

    def stop_encryption(self) -> None:
        storage.uninstall(self.kehu.ctx)


async def _read_only(*args: Any, **kwargs: Any) -> None:
    raise PermissionDenied("this is a masked copy for a plugin not trusted with personal data; it cannot be saved")


def masking_of(kehu: Kehu) -> Masking:
    guard = kehu.field_guard
    if not isinstance(guard, Masking):
        raise RuntimeError("the masking plugin is not enabled")
    return guard


# --------------------------------------------------------------------------- reveal

REVEALABLE_COLUMNS = ("name", "email", "phone", "address")


def revealable_key(masking: Masking, field: str) -> tuple[str, str | None]:
    """``(policy key, attribute)`` for a reveal request's ``field``: a Customer field
    (``phone``) or a personal attribute (``attributes.id_number``)."""
    name = field.strip()
    if name.startswith("Customer."):
        name = name[len("Customer.") :]
    if name.startswith("attributes."):
        attribute = name.split(".", 1)[1]
        if attribute in masking.settings.personal_attributes and "Customer.attributes" in masking.policies:
            return "Customer.attributes", attribute
    elif name in REVEALABLE_COLUMNS and f"Customer.{name}" in masking.policies:
        return f"Customer.{name}", None
    known = [c for c in REVEALABLE_COLUMNS if f"Customer.{c}" in masking.policies]
    known += [f"attributes.{a}" for a in masking.settings.personal_attributes]
    raise ValidationError(
        f"not a personal field of Customer (one of: {', '.join(known)})", field="field", code="UNKNOWN_FIELD"
    )


async def reveal_field(
    kehu: Kehu, viewer: Viewer, customer_id: int, field: str, reason: str | None, *, request_id: str | None
) -> tuple[Any, Any]:
    """Return ``(clear value, disclosure)``; the disclosure is written in the
    caller's write scope, so a reveal and its record commit together."""
    from kehu.customers import get_visible_customer
    from kehu.writes import record_change

    from .models import Disclosure

    viewer.require("masking.reveal")
    masking = masking_of(kehu)
    settings = masking.settings
    reason = (reason or "").strip()
    if len(reason) < settings.reason_min_length:
        raise ValidationError(
            f"give a reason of at least {settings.reason_min_length} characters", field="reason", code="REQUIRED"
        )
    if len(reason) > 1000:
        raise ValidationError("must be at most 1000 characters", field="reason", code="TOO_LONG")
    key, attribute = revealable_key(masking, field)
    customer = await get_visible_customer(viewer, customer_id)
    now = kehu.clock.now()
    since = now - dt.timedelta(minutes=settings.reveal_window_minutes)
    recent = await Disclosure.filter(actor_id=viewer.id, at__gte=since).count()
    if recent >= settings.reveal_limit:
        raise ValidationError(
            f"at most {settings.reveal_limit} reveals per {settings.reveal_window_minutes} minutes",
            field="field",
            code="RATE_LIMITED",
        )
    if attribute is None:
        value = getattr(customer, key.split(".", 1)[1])
    else:
        value = (customer.attributes or {}).get(attribute)
    label = key if attribute is None else f"{key}.{attribute}"
    disclosure = await Disclosure.create(
        at=now,
        actor_id=viewer.id,
        actor_label=viewer.label,
        customer_id=customer.id,
        field=label,
        reason=reason,
        request_id=request_id,
    )
    record_change("Disclosure", disclosure.id, {"customer_id": (None, customer.id), "field": (None, label)})
    return value, disclosure


# --------------------------------------------------------------------------- encryption jobs

PERSONAL_COLUMNS = ("phone", "email", "address", "attributes")


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
    counts = {"customers": 0, "audit_entries": 0}
    last = 0
    while True:
        rows = await db.execute_query_dict(
            f"SELECT id, phone, email, address, attributes FROM kehu_customer WHERE id > {mark} ORDER BY id LIMIT {mark2}",
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
                    await customer.save(update_fields=[c for c in PERSONAL_COLUMNS])
                await storage.write_blind_indexes(sealer, customers)
            counts["customers"] += len(customers)
        if progress is not None:
            progress("customers", last)
    counts["audit_entries"] = await _reseal_audit(kehu, sealer, batch_size)
    if kehu.ctx.db().capabilities.dialect == "sqlite":
        # Replaced pages may still hold the clear values: zero them.
        await db.execute_script("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def _needs_work(sealer: storage.Sealer, row: dict[str, Any]) -> bool:
    for column in sealer.columns:
        value = row[column]
        if value is not None and (not is_sealed(value) or sealer.keyring.needs_reseal(value)):
            return True
    if sealer.attributes:
        attributes = row["attributes"]
        if isinstance(attributes, str):
            attributes = json.loads(attributes or "{}")
        for key in sealer.attributes & set(attributes or {}):
            value = attributes[key]
            if value is not None and (not is_sealed(value) or sealer.keyring.needs_reseal(value)):
                return True
    return False


async def _reseal_audit(kehu: Kehu, sealer: storage.Sealer, batch_size: int) -> int:
    """Re-save audit entries whose stored changes hold a clear value of an
    encrypted field or a value sealed with a previous key."""
    from kehu.models import AuditEntry

    db = kehu.ctx.db()
    marks = ("$1", "$2") if db.capabilities.dialect == "postgres" else ("?", "?")
    rewritten, last = 0, 0
    while True:
        raw = await db.execute_query_dict(
            f"SELECT id, entity_type, changes FROM kehu_audit_entry WHERE id > {marks[0]} ORDER BY id LIMIT {marks[1]}",
            [last, batch_size],
        )
        if not raw:
            return rewritten
        last = raw[-1]["id"]
        stale = [r["id"] for r in raw if _audit_stale(sealer, r["entity_type"], r["changes"])]
        if stale:
            async with in_transaction():
                for entry in await AuditEntry.filter(id__in=stale):  # opened on load, sealed on save
                    await entry.save(update_fields=["changes"])
            rewritten += len(stale)


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
    """Customers with a clear value in an encrypted column."""
    masking = masking_of(kehu)
    if masking.sealer is None or not masking.sealer.columns:
        return 0
    condition = " OR ".join(f"({c} IS NOT NULL AND {c} NOT LIKE 'kehu:e1:%')" for c in sorted(masking.sealer.columns))
    rows = await kehu.ctx.db().execute_query_dict(f"SELECT COUNT(*) AS n FROM kehu_customer WHERE {condition}")
    return int(rows[0]["n"])


# --------------------------------------------------------------------------- lifecycle & CLI


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


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("masking", help="encryption keys and encrypted fields")
    commands = parser.add_subparsers(dest="masking_command", metavar="COMMAND", required=True)
    for name, text in (
        ("encrypt-existing", "encrypt clear values of the encrypted fields (batches)"),
        ("rotate-key", "re-encrypt everything with KEHU_MASKING_KEY; previous keys stay readable meanwhile"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("--batch-size", type=int, default=500)
        p.set_defaults(handler=_reseal_command)


async def _reseal_command(kehu: Kehu, args) -> int:
    counts = await reseal(kehu, batch_size=max(1, args.batch_size))
    print(f"{counts['customers']} customers and {counts['audit_entries']} audit entries re-encrypted")
    if args.masking_command == "rotate-key":
        print("every value is now encrypted with the current key: KEHU_MASKING_PREVIOUS_KEYS may be removed")
    return 0
