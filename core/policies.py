"""Field policies: which fields carry personal data and how each role may see them.

Declared through the ``kehu_field_policies`` hook; enforced by the masking plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Strategy(str, Enum):
    CLEAR = "CLEAR"
    PARTIAL = "PARTIAL"  # 138****5678, j***@example.com, 张*
    LAST4 = "LAST4"
    HASH = "HASH"  # keyed, stable pseudonym
    REDACT = "REDACT"


@dataclass(frozen=True)
class FieldPolicy:
    """``FieldPolicy("Customer", "phone", kind="phone", roles={"ANALYST": Strategy.PARTIAL})``

    :param type_name: GraphQL type holding the field.
    :param field_name: the GraphQL field name (camelCase).
    :param kind: what the value is (``name``, ``email``, ``phone``, ``address``,
        ``text``, ``id_number``…): decides how PARTIAL looks.
    :param roles: default strategy per role; a role without one is REDACTED.
    """

    type_name: str
    field_name: str
    kind: str = "text"
    roles: dict[str, Strategy] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.type_name}.{self.field_name}"


class FieldGuard:
    """How personal fields may leave the server, asked by the core wherever a value
    leaves through a path the GraphQL field extensions do not cover: the
    customer search and ordering, exports, the audit log, event payloads.

    ``kehu.field_guard`` is the guard of the running application: the one a plugin
    returns from ``kehu_field_guard`` (the masking plugin), or this base class,
    which shows everything in clear — so with no such plugin enabled, kehu behaves
    exactly as if policies did not exist. ``key`` is a policy key
    (``"Customer.phone"``); ``owner_id`` the account owner of the customer the
    value belongs to, when known.
    """

    def strategy(self, viewer: Any, key: str, *, owner_id: int | None = None) -> Strategy:
        """The strategy ``viewer`` sees ``key`` with (CLEAR without a policy)."""
        return Strategy.CLEAR

    def mask(self, viewer: Any, key: str, value: Any, *, owner_id: int | None = None) -> Any:
        """``value`` as ``viewer`` may see it."""
        return value

    def search_condition(self, viewer: Any, key: str, column: str, term: str) -> Any:
        """The Tortoise ``Q`` that matches ``term`` in ``column`` for ``viewer``, or
        ``None`` to leave the field out of the search (the viewer sees it masked)."""
        from tortoise.expressions import Q

        return Q(**{f"{column}__icontains": term})

    def stored_key(self, column: str, key: str | None) -> str | None:
        """What kehu stores as the normalised key of a customer's ``column``
        (``email``, ``phone``; ``kehu.matching``) in ``<column>_key``: the key
        itself, or — where the field is encrypted at rest — a keyed digest of it,
        so that no clear value reaches the database."""
        return key

    def stored_forms(self, column: str, key: str) -> list[str]:
        """Every form ``key`` may be stored in (several while an encryption key
        is being rotated): what an exact lookup of ``<column>_key`` looks for."""
        return [key]

    def key_condition(self, column: str, key: str, *, contains: bool = False) -> Any:
        """The Tortoise ``Q`` matching customers whose normalised ``column`` is
        ``key`` (whatever the viewer; callers scope by visibility). With
        ``contains``, those whose key holds ``key`` — or ``None`` where stored keys
        cannot be searched that way (keyed digests match only whole values)."""
        from tortoise.expressions import Q

        if contains:
            return Q(**{f"{column}_key__contains": key})
        forms = self.stored_forms(column, key)
        condition: dict[str, Any] = {f"{column}_key": forms[0]} if len(forms) == 1 else {f"{column}_key__in": forms}
        return Q(**condition)

    def event_arguments(self, plugin: str, hook: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments ``plugin``'s handler of event ``hook`` receives."""
        return arguments

    def audit_changes(self, viewer: Any, entity_type: str | None, changes: Any) -> Any:
        """An audit entry's ``{field: {before, after}}`` as ``viewer`` may read it."""
        return changes
