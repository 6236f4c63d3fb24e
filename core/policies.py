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
    :param columns: the model columns whose value the field shows, as
        ``"app.Model.column"`` (``"core.Customer.phone"``). They are what
        ``kehu.testing.policy_leaks`` fills with canaries before it walks the whole
        schema, so any other field that shows them (or a copy) without this policy
        is found; and no list is ordered by them for a viewer who sees them masked
        (``order_unmasked``).
    """

    type_name: str
    field_name: str
    kind: str = "text"
    roles: dict[str, Strategy] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.type_name}.{self.field_name}"


#: Free text about a customer — interaction subjects and notes, what a complaint
#: says, a survey's written answers, timeline notes — may hold anything personal
#: (health, family, money), whoever wrote it. Staff who may see the customer read
#: it; analysts get the figures, not the words. One policy for all free text, so
#: text copied from one such field into another (a complaint's description into
#: the interaction it logs) is never shown more openly than where it came from.
FREE_TEXT_ROLES = {
    "ADMIN": Strategy.CLEAR,
    "MANAGER": Strategy.CLEAR,
    "AGENT": Strategy.CLEAR,
    "ANALYST": Strategy.REDACT,
}


def free_text(type_name: str, field_name: str, *columns: str) -> FieldPolicy:
    """The policy of a free-text field: ``free_text("Interaction", "notes", "core.Interaction.notes")``."""
    return FieldPolicy(type_name, field_name, kind="text", roles=dict(FREE_TEXT_ROLES), columns=columns)


def order_unmasked(kehu: Any, viewer: Any, qs: Any, *fields: str) -> Any:
    """``qs.order_by(*fields)`` without the fields ``viewer`` sees masked (always
    ending with ``id``): the order of masked values would tell the clear values
    apart — customers listed by a name shown as ``张*`` still sort as the names do.
    A field is masked when a policy lists its column (``FieldPolicy.columns``) and
    ``kehu.field_guard`` does not show it to the viewer in clear."""
    return qs.order_by(*unmasked_order(kehu, viewer, qs.model, *fields))


def unmasked_order(kehu: Any, viewer: Any, model: Any, *fields: str) -> tuple[str, ...]:
    """The columns ``order_unmasked`` orders by: for a keyset (``paginate(...,
    order_by=...)``), whose cursors hold the values of these columns."""
    prefix = f"{model._meta.app}.{model.__name__}."
    keys = {column: policy.key for policy in kehu.field_policies for column in policy.columns}
    guard = kehu.field_guard
    kept = []
    for name in fields:
        key = keys.get(prefix + name.lstrip("-"))
        if key is None or guard.strategy(viewer, key) is Strategy.CLEAR:
            kept.append(name)
    if not any(name.lstrip("-") == "id" for name in kept):
        kept.append("-id" if fields and fields[0].startswith("-") else "id")
    return tuple(kept)


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
            # icontains: keys have no letter case to fold, and on PostgreSQL only this
            # form matches the search's trigram index (kehu.search.POSTGRES_INDEXES).
            return Q(**{f"{column}_key__icontains": key})
        forms = self.stored_forms(column, key)
        condition: dict[str, Any] = {f"{column}_key": forms[0]} if len(forms) == 1 else {f"{column}_key__in": forms}
        return Q(**condition)

    def event_arguments(self, plugin: str, hook: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments ``plugin``'s handler of event ``hook`` receives."""
        return arguments

    def audit_changes(self, viewer: Any, entity_type: str | None, changes: Any) -> Any:
        """An audit entry's ``{field: {before, after}}`` as ``viewer`` may read it."""
        return changes
