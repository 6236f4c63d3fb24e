"""Every hook a kehu plugin can implement — the plugin author's reference.

A plugin is a module (or any object) whose functions are marked with
``kehu.hookimpl`` and named after a spec below. pluggy passes arguments by name, so
an implementation accepts only the parameters it needs::

    from kehu import hookimpl

    @hookimpl
    def kehu_interaction_logged(interaction, kehu):
        ...

Rules that hold for every hook:

* Hooks of enabled plugins only are called; an installed but disabled plugin
  contributes nothing.
* A hookimpl whose name starts with ``kehu_`` but matches no spec below, or whose
  parameters are not a subset of the spec's, stops start-up with one line naming
  the plugin.
* Implementations may be ``async def`` where the docstring says "may be async";
  kehu awaits them (pluggy itself does not).
* Implementations run in pluggy's order: those marked
  ``@hookimpl(tryfirst=True)`` first, then the others last-registered-first,
  then those marked ``trylast``. kehu registers the core, then the enabled
  built-in plugins in a fixed order, then third-party plugins by name, so a
  third-party plugin runs before the built-ins and the core runs last. On a "first result wins" hook the first value
  other than ``None`` ends the call. Hook wrappers (``hookwrapper=True``,
  ``wrapper=True``) are refused at start-up.
* Registration hooks (models, GraphQL, permissions, field policies, settings,
  routes, commands) run once at start-up; event hooks run after each write commits;
  ``kehu_customers_merged`` runs inside the merge's own transaction.
* Event hooks are delivered through the outbox: at least once, so possibly more
  than once. Each call gets ``event_id``, the event's id, the same on every
  delivery; a handler must be idempotent by it — write through
  ``kehu.writes.write_scope(kehu, None, "plugin.operation", event_id=event_id)``
  (at most one commit per event and operation), or key what it does by it.
  A handler that raises is retried with backoff (about a day), then the event is
  listed by ``kehu events failed``; a handler that cannot act yet raises
  ``kehu.events.RetryLater(seconds)``. Handlers run after the commit and, in the
  worker that made the write, before its response is sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import argparse

    from pydantic import BaseModel
    from starlette.routing import BaseRoute

    from kehu.schema.registry import GraphQLRegistry

    from .access import Permission, Viewer
    from .events import Event
    from .models import AccountOwner, Customer, Interaction
    from .policies import FieldGuard, FieldPolicy
    from .server.plugin_manager import ModelsSpec
    from .server.runtime import Kehu

hookspec = pluggy.HookspecMarker("kehu")
hookimpl = pluggy.HookimplMarker("kehu")


# --------------------------------------------------------------------------- plugin


@hookspec
def kehu_plugin_info() -> dict[str, Any]:
    """Describe the plugin: what it needs and which plugin API it was written for.

    Return a dict with any of:

    * ``"requires"``: list of plugin names that must be enabled too
      (start-up fails with "plugin 'x' requires 'y'" otherwise);
    * ``"api"``: the kehu plugin-API versions supported, as a version range such
      as ``">=1,<2"`` (see ``kehu.PLUGIN_API_VERSION``);
    * ``"description"``: one line shown by ``kehu plugins``;
    * ``"hookspecs"``: a module (or its dotted name) of hook specs the plugin
      defines for other plugins — e.g. ``kehu_complaint_escalated``. They follow
      these same rules; a name clash stops start-up.
    * ``"pages"``: ``{path: title}`` of pages a person opens in a browser (e.g.
      ``{"/console": "web console"}``); ``kehu serve`` prints their URLs when it
      starts.

    Called once at start-up.
    """


# --------------------------------------------------------------------------- models


@hookspec
def kehu_models() -> ModelsSpec:
    """Return the plugin's Tortoise models and where their migrations live.

    Return ``{"models": ["mypkg.models"], "migrations": "mypkg.migrations"}``.
    The plugin becomes a Tortoise app labelled with the plugin's name, so foreign
    keys to the core read ``"core.Customer"``; a foreign key from another app to
    this plugin reads ``"<plugin name>.Model"``. Each migration that references the
    core must list ``("core", "0001_initial")`` (or later) in its ``dependencies``:
    Tortoise does not infer cross-app dependencies. ``kehu makemigrations NAME``
    writes migrations for a plugin. Tables are never dropped when a plugin is
    disabled.
    """


# --------------------------------------------------------------------------- schema


@hookspec
def kehu_graphql(graphql: GraphQLRegistry) -> None:
    """Contribute to the GraphQL schema through the registry you are handed.

    ``graphql.extend("Customer", Mixin)`` adds the fields of a ``@strawberry.type``
    mixin class to ``Customer`` (likewise ``"Interaction"`` and ``"AccountOwner"``);
    resolvers there receive the core model instance (``kehu.models.Customer`` …) as
    ``self``. ``graphql.query(Mixin)`` and ``graphql.mutation(Mixin)`` add root
    fields; ``graphql.types(*types)`` adds types reachable only through interfaces.
    Refer to core types by their GraphQL name in string annotations
    (``customer: "Customer"``): they resolve to the composed types.

    Every mutation runs in one transaction with exactly one audit entry, and its
    payload should subclass ``kehu.schema.Payload`` (``userErrors``). A root field
    may be marked public (``graphql.query(Mixin, public=["fieldName"])``): only
    public fields answer unauthenticated requests.

    Two plugins (or a plugin and the core) claiming the same type or field name
    stop start-up with an error naming both. Called once while the schema is built.
    """


# --------------------------------------------------------------------------- events


@hookspec
def kehu_customer_created(
    customer: Customer, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after a new customer has been committed.

    :param customer: the new customer.
    :param actor: who created it (``None`` for system jobs such as an import).
    :param event_id: this event's id, the same on every delivery: be idempotent by it.
    :param kehu: the running application (settings, hooks).

    May be async. An exception is logged with the plugin's name and the handler is
    called again later; it neither undoes the customer nor stops other plugins'
    handlers.
    """


@hookspec
def kehu_customer_updated(
    customer: Customer, changes: dict[str, tuple[Any, Any]], actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after changes to a customer have been committed.

    :param customer: the customer as it is now (on a later delivery: as it is then).
    :param changes: ``{field: (before, after)}`` for each changed field.
    :param actor: who changed it.
    :param event_id: this event's id, the same on every delivery: be idempotent by it.
    :param kehu: the running application.

    May be async. Failures are logged with the plugin's name, undo nothing, and
    are retried.
    """


@hookspec
def kehu_customer_archived(
    customer: Customer, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after a customer has been archived (customers are never deleted).

    :param event_id: this event's id, the same on every delivery: be idempotent by it.

    May be async. Failures are logged with the plugin's name, undo nothing, and
    are retried.
    """


@hookspec
def kehu_owner_assigned(
    customer: Customer,
    previous_owner: AccountOwner | None,
    owner: AccountOwner | None,
    actor: AccountOwner | None,
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Called after a customer's account owner has changed and the change committed.

    :param previous_owner: the owner before (``None`` if there was none).
    :param owner: the new owner (``None`` when unassigned).
    :param event_id: this event's id, the same on every delivery: be idempotent by it.

    May be async. Failures are logged with the plugin's name, undo nothing, and
    are retried.
    """


@hookspec
def kehu_interaction_logged(
    interaction: Interaction, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after an interaction has been committed.

    :param interaction: the new interaction, with ``customer`` loaded
        (``interaction.customer``); purchases carry ``amount`` (Decimal).
    :param actor: who logged it.
    :param event_id: this event's id, the same on every delivery: be idempotent by it.
    :param kehu: the running application.

    May be async. This is where segmentation re-scores and loyalty accrues points;
    such handlers must be idempotent (by ``event_id``, or by the interaction's id).
    Failures are logged with the plugin's name, retried, and never undo or lose the
    interaction.
    """


@hookspec
def kehu_bulk_loaded(
    reason: str,
    customer_ids: list[int] | None,
    interaction_ids: range | None,
    since: dt.datetime | None,
    actor: AccountOwner | None,
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Called once after many records were written at once without per-record
    events — an import (``kehu import customers|interactions``), the demo data set.

    The records carry their own dates: years of purchases imported today happened
    years ago. Bring derived data up to date in one pass, *as of each record's
    date*, not one event per record and not as if everything happened now — e.g.
    loyalty credits each purchase dated at the purchase, at the tier the customer
    held then, and expires in the same run what has expired since; segmentation
    re-scores the loaded customers together (everyone, when the load is a large
    part of the base) and records each one's state before and after the load as
    one change (cause ``IMPORT``) instead of a history row per record. Let the cost
    follow the load, not the base: use ``customer_ids`` where you can. Bulk loads skip
    ``kehu_customer_created``/``kehu_interaction_logged`` because a handler per
    row turns a five-second import into minutes. Handlers should be idempotent:
    a load may be repeated, and an import that stopped half-way is run again.

    :param reason: ``"import"`` or ``"demo"`` (plugins may add others).
    :param customer_ids: the customers written (created, updated or given new
        interactions), or ``None`` when unknown or many (over 10,000).
    :param interaction_ids: the ids of the new interactions, as a ``range``
        (``None`` when none were written). It may include interactions others
        logged meanwhile: treat those as you would any other.
    :param since: the earliest date among the loaded records (an interaction's
        ``occurred_at``, a customer's ``created_at``), or ``None``.
    :param actor: who ran the load (``None`` for the CLI).
    :param event_id: this event's id, the same on every delivery: be idempotent by it.

    May be async. Failures are logged with the plugin's name, undo nothing, and
    are retried.
    """


@hookspec
def kehu_customers_merged(
    survivor: Customer, merged: list[Customer], actor: AccountOwner | None, kehu: Kehu
) -> Awaitable[dict[str, int] | None] | dict[str, int] | None:
    """Move your plugin's data of the ``merged`` customers to the ``survivor``.

    Called when duplicate records of one customer are merged (``mergeCustomers``,
    ``kehu.merges.merge_customers``), *inside the merge's transaction*, after the
    core has moved the interactions and before the merged customers are archived
    with ``merged_into`` set to the survivor. Whatever you write here commits with
    the merge, or not at all.

    Every row of yours that refers to a merged customer must refer to the survivor
    when you return: kehu then checks every foreign key to ``core.Customer`` of
    every enabled plugin, and a row still pointing at a merged customer undoes the
    whole merge (the user sees ``MERGE_INCOMPLETE`` naming your table). Tables
    with rows per customer usually need one statement::

        @hookimpl
        async def kehu_customers_merged(survivor, merged):
            moved = await Note.filter(customer_id__in=[c.id for c in merged]).update(customer_id=survivor.id)
            return {"notes": moved}

    Where a customer may have only one row (a ``OneToOneField``, a unique
    ``(customer, …)``), combine: keep the survivor's row (or the first merged
    one's, if the survivor has none) with the values that make sense for one
    customer (sums, the earliest start, the latest date), and delete the others —
    they described the same person. Recompute what you derive from the rows you
    moved (a balance from its ledger, a tier from the balance) so it holds for the
    survivor when the merge commits. Never let a customer refer to itself (a
    referral between two records of one person is removed).

    :param survivor: the customer that remains, with the fields the merge chose
        already saved; its interactions include the merged customers' now.
    :param merged: the customers merged into it, as they were (still with their
        own field values); only their ids are needed to find your rows.
    :param actor: who merges (an account owner holding ``customers.merge`` who may
        see every record involved).
    :param kehu: the running application (settings, clock).
    :return: counts of what you moved or combined, e.g. ``{"notes": 3}`` (a
        plain number counts as ``rows``; or ``None``): they are shown in
        ``mergeCustomers``' answer and in the merge's one audit entry, under your
        plugin's name.

    May be async. Runs in the caller's transaction and write scope: do not open
    ``write_scope`` or a transaction of your own, do not commit, and do not wait
    on anything another request holds (a lock of yours, the network). Raise a
    ``kehu.errors.ValidationError`` (with a ``code``) to refuse a merge the user
    can fix; any other exception is logged and the merge fails with
    ``MERGE_FAILED`` naming your plugin. Either way nothing is merged. After the
    commit ``kehu_customer_updated`` is delivered for the survivor: recompute slow
    derived data (scores over the whole base) there.
    """


@hookspec
def kehu_survey_requested(
    customer: Customer, reason: str, reference: str | None, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """A plugin asks for a satisfaction survey to be sent to ``customer``.

    Emit it from a write with ``kehu.writes.emit("kehu_survey_requested", ...)``
    (it is delivered after the commit). The surveys plugin implements it by
    creating an invitation; with no survey plugin enabled nothing happens.

    :param customer: who should be asked.
    :param reason: a short machine-readable reason, e.g. ``"complaint_resolved"``.
    :param reference: what the survey is about, e.g. a complaint's global ID.
    :param actor: who caused the request.
    :param event_id: this event's id, the same on every delivery: invite once per id.

    May be async. Failures are logged with the plugin's name, undo nothing, and
    are retried.
    """


@hookspec
def kehu_event_published(event: Event, actor: AccountOwner | None, event_id: int, kehu: Kehu) -> Awaitable[None] | None:
    """Called, through the outbox, for every live event after its write committed:
    the core's (``customer.created``, ``customer.updated``, ``customer.archived``,
    ``customer.owner_assigned``, ``interaction.logged``) and those plugins publish
    with ``kehu.writes.publish`` (``complaint.filed``, ``survey.response_received`` …)
    — the same events the ``events`` subscription shows, for plugins that forward
    them elsewhere (the webhooks plugin does).

    :param event: a ``kehu.events.Event``: ``topic``, ``customer_id`` (whose
        customer it concerns), ``node_id`` (the object's global ID), ``data`` (a few
        non-personal facts), ``at`` (ISO time).
    :param actor: who made the write (``None`` for the system).
    :param event_id: this event's id, the same on every delivery: be idempotent by it.

    May be async. Failures are logged with the plugin's name and retried. Only
    written to the outbox while some enabled plugin implements this hook.
    """


@hookspec(firstresult=True)
def kehu_segment_members(
    segment_key: str, viewer: Viewer | None, kehu: Kehu
) -> Awaitable[list[int] | None] | list[int] | None:
    """Resolve a customer segment's key to the ids of its member customers.

    The segmentation plugin implements it; others (surveys inviting a segment)
    call it through ``await kehu.hooks.first("kehu_segment_members", ...)`` without
    importing segmentation. Return only customers ``viewer`` may see
    (``kehu.access.visible_customers``); ``None`` when the key is unknown. The
    first non-None answer wins. May be async.
    """


# --------------------------------------------------------------------------- policies


@hookspec
def kehu_field_policies() -> list[FieldPolicy]:
    """Declare which GraphQL fields carry personal data, and how they may be shown.

    Return ``[FieldPolicy("Customer", "phone", kind="phone", columns=("core.Customer.phone",)), ...]``
    for each personal field the plugin adds (the core declares its own). A policy
    may name a default strategy per role; plugins.toml can override them. Name the
    model columns the field shows (``columns``, ``"app.Model.column"``): no list is
    then ordered by them for a viewer who sees them masked
    (``kehu.policies.order_unmasked``), and ``kehu.testing.policy_leaks`` checks that
    no other field of the schema shows them without the policy. Free text about a
    customer (notes, comments, anything typed) takes the one free-text policy:
    ``kehu.policies.free_text("Ticket", "notes", "tickets.Ticket.notes")``. A field
    that shows a copy of classified data (a description copied into notes) needs a
    policy too. Policies are compiled into the schema once at start-up, so fields
    without one cost nothing per request. Without the masking plugin enabled,
    policies are recorded but values are shown in clear.
    """


@hookspec(firstresult=True)
def kehu_field_guard(kehu: Kehu) -> FieldGuard | None:
    """Return the object that decides how personal fields leave the server on the
    paths GraphQL field extensions do not cover — the masking plugin does this.

    :param kehu: the running application (settings, plugins).

    Return a ``kehu.policies.FieldGuard`` subclass instance. The core asks it, with
    the viewer and a policy key (``"Customer.phone"``):

    * ``search_condition(viewer, key, column, term)`` — the customer search: a
      ``Q`` to match, or ``None`` to leave a field the viewer sees masked out of
      the search (so a count cannot tell whether a value exists);
    * ``strategy(viewer, key)`` — ordering: customers cannot be ordered by a field
      the viewer sees masked;
    * ``mask(viewer, key, value, owner_id=...)`` — exports;
    * ``audit_changes(viewer, entity_type, changes)`` — ``auditLog`` before/after
      values;
    * ``event_arguments(plugin, hook, arguments)`` — what each plugin's event
      handler receives (masked copies for plugins not trusted with clear data).

    Called once, on first use; the first non-None answer wins. Without one the
    base ``FieldGuard`` shows everything in clear.
    """


@hookspec
def kehu_permissions() -> list[Permission]:
    """Declare the permissions the plugin checks, e.g.
    ``Permission("loyalty.award", "Award points manually", roles=("ADMIN", "MANAGER"))``.

    ``roles`` are the roles granted the permission by default; plugins.toml's
    ``[roles]`` table grants more. Names must start with the plugin's name and a dot.
    Check them in services with ``viewer.require("loyalty.award")``.
    """


# --------------------------------------------------------------------------- settings


@hookspec
def kehu_settings_model() -> type[BaseModel]:
    """Return the pydantic model of the plugin's own ``[plugins.<name>]`` section
    (each plugin answers for itself).

    The section is validated at start-up; an invalid value stops start-up with
    one line naming ``plugins.<name>.<key>``. Use ``model_config =
    ConfigDict(extra="forbid")`` so misspelled keys are caught. The validated
    instance is available as ``kehu.settings_for("<name>")``.
    """


# --------------------------------------------------------------------------- lifecycle, CLI, routes


@hookspec
def kehu_startup(kehu: Kehu) -> Awaitable[None] | None:
    """Called once when the server (or a CLI command) has connected to the database.

    May be async. Start schedulers or warm caches here. An exception stops
    start-up with a line naming the plugin.
    """


@hookspec
def kehu_shutdown(kehu: Kehu) -> Awaitable[None] | None:
    """Called once before the database connections close. May be async.
    Failures are logged and do not stop other plugins' shutdown."""


@hookspec
def kehu_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``kehu`` sub-commands.

    Add a parser with ``p = subparsers.add_parser("loyalty", help=...)`` and set
    ``p.set_defaults(handler=fn)``; ``fn(kehu, args)`` may be async and runs with the
    database connected. Return an ``int`` exit status or ``None`` (0).
    """


@hookspec
def kehu_export_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add what ``kehu export`` can export, next to ``customers``: e.g. the
    segmentation plugin's ``kehu export segments``.

    ``subparsers`` is the ``WHAT`` of ``kehu export WHAT``; add a parser and set
    ``handler=fn`` as for ``kehu_commands``. Offer the formats people expect
    (``--format csv|jsonl|xlsx``, ``--output FILE``) and write CSV through
    ``kehu.csvsafe`` so that cells cannot run as spreadsheet formulas.
    """


@hookspec
def kehu_routes(kehu: Kehu) -> list[BaseRoute]:
    """Return extra Starlette routes, e.g. a public survey page at ``/s/{token}``.

    Routes are public HTTP endpoints: authenticate inside them
    (``await kehu.viewer_for_request(request)``) if they are not meant to be.
    Paths must not collide with the core's (``/graphql``, ``/healthz``).
    """


@hookspec
def kehu_trusted_documents(kehu: Kehu) -> list[str]:
    """Return GraphQL documents (their exact text) that the plugin's own frontend
    sends, e.g. the console's queries. Return only documents valid with the
    enabled plugins (``kehu.is_enabled("loyalty")``).

    With trusted documents on (``[documents] trusted_only = true``) the server runs
    only registered documents; those returned here are trusted as if registered
    with ``kehu documents add``, by the SHA-256 of their text, for as long as the
    plugin is enabled. ``kehu documents list`` shows them. Clients may send the
    text, or only its hash (``extensions.persistedQuery.sha256Hash`` or
    ``documentId: "sha256:<hex>"``). Called once at start-up.
    """
