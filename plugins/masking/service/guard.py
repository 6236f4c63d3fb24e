"""The compiled policy table and ``Masking``, the field guard the core asks how
personal fields leave the server.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strawberry.utils.str_converters import to_camel_case, to_snake_case
from tortoise.expressions import Q, Subquery

from kehu.access import Viewer
from kehu.errors import ConfigError, PermissionDenied
from kehu.models import Customer
from kehu.policies import FieldGuard, FieldPolicy, Strategy

from ..settings import MaskingSettings
from . import storage
from .crypto import KeyError_, Keyring, pseudonym_key_from_environment
from .strategies import apply_strategy

if TYPE_CHECKING:
    from kehu import Kehu


ALWAYS_TRUSTED = frozenset({"core", "masking"})


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
            from ..models import BlindIndex

            digests = self.keyring.blind_indexes(self.sealer.index_value(column, term), key)
            return Q(id__in=Subquery(BlindIndex.filter(field=key, digest__in=digests).values("customer_id")))
        return super().search_condition(viewer, key, column, term)

    # -- normalised keys of encrypted fields ------------------------------------------

    def _keyed(self, column: str) -> bool:
        return column in self.settings.encrypted_columns and self.keyring is not None

    def stored_key(self, column: str, key: str | None) -> str | None:
        if key is None or not self._keyed(column):
            return key
        return self._sealer().key_digest(column, key)

    def stored_forms(self, column: str, key: str) -> list[str]:
        if not self._keyed(column):
            return super().stored_forms(column, key)
        return self._sealer().key_digests(column, key)

    def key_condition(self, column: str, key: str, *, contains: bool = False) -> Any:
        if contains and self._keyed(column):
            return None  # a digest matches only the whole value
        return super().key_condition(column, key, contains=contains)

    def _sealer(self) -> storage.Sealer:
        # Keys may be asked for before start-up has installed encryption (a CLI
        # command's first write): the same keyring and region either way.
        return self.sealer or storage.Sealer(
            self.keyring, self.settings.encrypted_columns, self.settings.encrypted_attributes, self._region()
        )

    def _region(self) -> str:
        return self.kehu.config.kehu.phone_region

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
            elif isinstance(value, list):
                out[name] = [self.masked_copy(item, role) for item in value]
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
        self.sealer = storage.Sealer(
            self.keyring, self.settings.encrypted_columns, self.settings.encrypted_attributes, self._region()
        )
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
