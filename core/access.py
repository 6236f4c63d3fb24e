"""Who may see and do what: roles, permissions, and the one place that scopes reads.

Every read path — root connections, ``node(id)``, nested fields, filters, counts,
exports, plugin queries — starts from ``visible_customers`` /
``visible_interactions`` / ``of_visible_customers`` below, so a rule written here
holds everywhere. A record the viewer may not see behaves as if it did not exist.
When the role is unknown the scope is empty (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from tortoise.expressions import Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from .errors import NotAuthenticated, PermissionDenied
from .models import AccountOwner, Customer, Interaction, Role

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Permission:
    """A named capability, granted to ``roles`` by default (more via plugins.toml).

    ``read=True`` marks a permission that changes nothing (reading a report): only
    those can be held by read-only roles such as ANALYST.
    """

    name: str
    description: str
    roles: tuple[str, ...] = ()
    read: bool = False


CORE_PERMISSIONS = (
    Permission("customers.create", "Create customers", ("ADMIN", "MANAGER", "AGENT")),
    Permission("customers.update", "Edit visible customers", ("ADMIN", "MANAGER", "AGENT")),
    Permission("customers.archive", "Archive visible customers", ("ADMIN", "MANAGER")),
    Permission("customers.assign", "Assign customers to account owners", ("ADMIN", "MANAGER")),
    Permission(
        "customers.merge", "Merge duplicate customers they may all see, and dismiss candidates", ("ADMIN", "MANAGER")
    ),
    Permission("customers.export", "Export customers", ("ADMIN", "MANAGER", "ANALYST"), read=True),
    Permission("interactions.log", "Log interactions on visible customers", ("ADMIN", "MANAGER", "AGENT")),
    Permission("owners.manage", "Create and edit account owners", ("ADMIN",)),
    Permission("tokens.manage", "Create, list and revoke API tokens", ("ADMIN",)),
    Permission("audit.read", "Read the audit log", ("ADMIN",), read=True),
    Permission("events.manage", "See the event outbox and retry failed events", ("ADMIN",)),
)

# Roles that may never write, whatever plugins.toml grants.
READ_ONLY_ROLES = frozenset({Role.ANALYST})


@dataclass(frozen=True)
class Viewer:
    """The signed-in account owner (or API token's service account) of a request."""

    owner: AccountOwner
    permissions: frozenset[str] = field(default_factory=frozenset)
    token_id: int | None = None

    @property
    def id(self) -> int:
        return self.owner.id

    @property
    def role(self) -> Role:
        role = self.owner.role
        # Read for every masked field of a page: the enum's own call is ~1 us.
        return role if role.__class__ is Role else Role(role)

    @property
    def team(self) -> str:
        return self.owner.team

    @property
    def read_only(self) -> bool:
        return self.role in READ_ONLY_ROLES

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        """Raise ``PermissionDenied`` unless the viewer holds ``permission``.
        (Read-only roles never hold a write permission: see PermissionTable.)"""
        if permission not in self.permissions:
            raise PermissionDenied(f"your role ({self.role.value}) may not do this ({permission})")

    @property
    def label(self) -> str:
        return f"{self.owner.email} ({self.role.value})"


def require_viewer(viewer: Viewer | None) -> Viewer:
    """The signed-in viewer, or ``NotAuthenticated`` (a GraphQL error with code
    ``UNAUTHENTICATED``) for an anonymous request."""
    if viewer is None:
        raise NotAuthenticated("sign in first (mutation login) or send an API token")
    return viewer


@dataclass(frozen=True)
class CustomerScope:
    """Which customers a viewer may see, as data: every customer (``everyone``),
    those whose owner is in ``team``, those owned by ``owner_id``, or none. The
    one statement of the rule: the querysets below are built from it, and so is
    the event bus's check of many subscribers against one customer row."""

    everyone: bool = False
    team: str | None = None
    owner_id: int | None = None

    def apply(self, qs: QuerySet, customer: str = "") -> QuerySet:
        """``qs`` narrowed to the scope; ``customer`` is the path to the customer
        (``"customer__"`` for interactions)."""
        if self.everyone:
            return qs
        if self.team is not None:
            return qs.filter(**{f"{customer}owner__team": self.team})
        if self.owner_id is not None:
            return qs.filter(**{f"{customer}owner_id": self.owner_id})
        return qs.filter(id__lt=0)

    def admits(self, owner_id: int | None, owner_team: str | None) -> bool:
        """Whether a customer owned by ``owner_id`` (whose team is ``owner_team``) is in scope."""
        if self.everyone:
            return True
        if self.team is not None:
            return owner_id is not None and owner_team == self.team
        return self.owner_id is not None and owner_id == self.owner_id


NO_CUSTOMERS = CustomerScope()


def customer_scope(viewer: Viewer | None) -> CustomerScope:
    """ADMIN and ANALYST: every customer. MANAGER: customers owned by anyone in their
    team (their own without a team). AGENT: customers they own. Anyone else: none."""
    if viewer is None:
        return NO_CUSTOMERS
    role = viewer.role
    if role in (Role.ADMIN, Role.ANALYST):
        return CustomerScope(everyone=True)
    if role is Role.MANAGER and viewer.team:
        return CustomerScope(team=viewer.team)
    if role in (Role.MANAGER, Role.AGENT):
        return CustomerScope(owner_id=viewer.id)
    return NO_CUSTOMERS


def visible_customers(viewer: Viewer | None) -> QuerySet[Customer]:
    """All customers the viewer may see (``customer_scope``) — archived ones
    included; callers filter those."""
    return customer_scope(viewer).apply(Customer.all())


def visible_customer_ids(viewer: Viewer | None) -> Subquery:
    """The visible customers' ids as a subquery: ``Customer`` ids for a filter of
    its own. For a table with a ``customer_id`` column, ``of_visible_customers``
    does the same and costs nothing for viewers who see every customer."""
    return Subquery(visible_customers(viewer).values("id"))


def of_visible_customers(
    rows: QuerySet[M] | type[M], viewer: Viewer | None, *, column: str = "customer_id"
) -> QuerySet[M]:
    """The rows of a table with a customer column (``column``, ``customer_id`` by
    default) whose customer the viewer may see: ``of_visible_customers(Ticket,
    viewer)`` or ``of_visible_customers(Ticket.filter(open=True), viewer)``.

    For viewers who see every customer (ADMIN, ANALYST) it only drops rows without
    a customer, instead of ``customer_id IN (SELECT id FROM kehu_customer)``: that
    subquery reads the whole customer table on every query, a cost that grows with
    the base while the answer does not. Narrower scopes filter through the
    visible customers' ids as before."""
    qs = rows if isinstance(rows, QuerySet) else rows.all()
    if customer_scope(viewer).everyone:
        return qs.filter(**{f"{column}__isnull": False})
    return qs.filter(**{f"{column}__in": visible_customer_ids(viewer)})


def visible_interactions(viewer: Viewer | None) -> QuerySet[Interaction]:
    """Interactions of the customers the viewer may see."""
    return customer_scope(viewer).apply(Interaction.all(), "customer__")


def visible_owners(viewer: Viewer | None) -> QuerySet[AccountOwner]:
    """Account owners are a staff directory: every signed-in user sees every human
    owner (name, e-mail, role, team); service accounts only admins."""
    qs = AccountOwner.all()
    if viewer is None:
        return qs.filter(id__lt=0)
    if viewer.role is Role.ADMIN:
        return qs
    return qs.filter(is_service=False)


class PermissionTable:
    """Which role holds which permission: the defaults declared by the core and the
    plugins, plus plugins.toml's ``[roles]`` grants."""

    def __init__(self, permissions: list[Permission], grants: dict[str, tuple[str, ...]]):
        self.permissions = {p.name: p for p in permissions}
        by_role: dict[str, set[str]] = {r.value: set() for r in Role}
        for perm in permissions:
            for role in perm.roles:
                by_role.setdefault(role, set()).add(perm.name)
        by_role[Role.ADMIN.value] |= set(self.permissions)
        for role, names in grants.items():
            by_role[role] |= set(names)
        for role in READ_ONLY_ROLES:
            # Fail closed: whatever a plugin or plugins.toml says, read-only stays read-only.
            by_role[role.value] = {n for n in by_role[role.value] if n in self.permissions and self.permissions[n].read}
        self.by_role = {role: frozenset(names) for role, names in by_role.items()}

    def write_grants_to_read_only(self, grants: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
        return [
            (role, name)
            for role, names in grants.items()
            if Role(role) in READ_ONLY_ROLES
            for name in names
            if name in self.permissions and not self.permissions[name].read
        ]

    def for_role(self, role: Role | str) -> frozenset[str]:
        return self.by_role.get(Role(role).value, frozenset())
