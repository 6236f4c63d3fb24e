"""Does any GraphQL field show a classified column in clear without its policy?

``policy_leaks(app)`` answers it for a running test app (``KehuHarness``) with
every plugin it enables, built-in or third-party, without a list of known paths:

1. every model column that a field policy names (``FieldPolicy.columns``) is
   filled with a canary — a marker unique to that row and column — directly in
   the database;
2. the whole composed schema is walked: one query per root field (every field of
   every type reachable, a few levels deep), then the root fields that need an ID
   and ``node(id)`` with the IDs the first pass met;
3. every answer, read as a viewer who sees those fields masked (ANALYST by
   default), is searched for canaries. A canary in an answer is a field that
   shows the column (or a copy of it) without the policy compiled on. For the
   walk the viewer's role holds every permission (it only reads): a field
   behind a permission the role lacks by default — an admin's log, another
   plugin's settings — is walked too, since plugins.toml may grant it to a
   role that sees the data masked;
4. every list of customers in the answers is checked for the order of the
   canaries in their names: a list ordered by the clear name is an oracle, even
   when the names themselves are masked.

Text that a write copies from a classified field into another column is found
when the copy is made after step 1 (write through the API, then call
``policy_leaks(app, planted=…)``) — or when the target column is classified too,
as every free-text column should be (``kehu.policies.free_text``).

Use it with the masking plugin enabled and limits that let the walk through::

    app = kehu_make_app(plugins=["masking", "myplugin"], config=WALK_LIMITS)
    assert policy_leaks(app) == []
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    Undefined,
    get_named_type,
    is_non_null_type,
)

#: plugins.toml limits under which the walk's large queries are answered.
WALK_LIMITS = {
    "limits": {
        "max_tokens": 100_000,
        "max_aliases": 1000,
        "max_root_fields": 200,
        "max_nodes": 1_000_000,
        "max_depth": 16,
        "max_document_chars": 1_000_000,
        "rate_per_minute": 0,
    }
}


WALK_PAGE = 10


@dataclass
class Canaries:
    """What ``plant_canaries`` wrote: marker -> column, and the rank of each
    customer's name among the planted names."""

    columns: dict[str, str] = field(default_factory=dict)
    name_rank: dict[int, int] = field(default_factory=dict)

    def found_in(self, text: str) -> list[str]:
        # One pass of a regular expression finds every marker of ``_marker``'s
        # forms (overlapping ones too: a lookahead); a marker of another form,
        # added to ``columns`` by hand, is looked for on its own. Searching for
        # each of thousands of markers in turn took seconds per large answer.
        present = {match.group(1) for match in _MARKERS_IN.finditer(text)}
        return sorted(
            {
                f"{column} ({marker})"
                for marker, column in self.columns.items()
                if marker in present or (not _MARKER_FORM.fullmatch(marker) and marker in text)
            }
        )


@dataclass(frozen=True)
class Leak:
    """A canary found in an answer (``column`` set) or a list ordered by masked
    names (``column`` None); ``query`` is the document that showed it."""

    what: str
    query: str

    def __str__(self) -> str:
        return f"{self.what}\n    in: {self.query[:300]}"


#: every marker ``_marker`` makes; and the same as a zero-width search, so that
#: overlapping ones are found too.
_MARKER_FORM = re.compile(r"19\d{9}|zq\d{7}x")
_MARKERS_IN = re.compile(f"(?=({_MARKER_FORM.pattern}))")


def _marker(kind: str, n: int) -> tuple[str, str]:
    """(value to store, marker to look for)."""
    if kind == "phone":
        value = f"19{n:09d}"
        return value, value
    marker = f"zq{n:07d}x"
    if kind == "email":
        return f"{marker}@canary.example", marker
    return f"{marker} canary", marker


def _models(kehu: Any) -> dict[str, Any]:
    return {f"{m._meta.app}.{m.__name__}": m for m in kehu.ctx.apps.get_models_iterable()}


async def plant_canaries(kehu: Any, *, seed: int = 1) -> Canaries:
    """Fill every column a field policy names with canaries (JSON columns are left
    alone: the masking plugin's attribute keys are its own tests' business)."""
    from tortoise.transactions import in_transaction

    models = _models(kehu)
    rnd = random.Random(seed)
    canaries = Canaries()
    counter = 1
    done: set[str] = set()
    for policy in kehu.field_policies:
        for column in policy.columns:
            if column in done or policy.kind == "attributes":
                continue
            done.add(column)
            label, _, name = column.rpartition(".")
            model = models.get(label)
            if model is None or name not in model._meta.fields_map:
                raise AssertionError(f"field policy {policy.key}: no column {column} among the enabled apps' models")
            pks = list(await model.all().values_list(model._meta.pk_attr, flat=True))
            numbers = list(range(counter, counter + len(pks)))
            counter += len(pks)
            rnd.shuffle(numbers)
            async with in_transaction():
                for pk, n in zip(pks, numbers):
                    value, marker = _marker(policy.kind, n)
                    await model.filter(pk=pk).update(**{name: value})
                    canaries.columns[marker] = column
                    if column == "core.Customer.name":
                        canaries.name_rank[pk] = n
    return canaries


def selection(type_: Any, depth: int, page: int | None = None) -> str:
    """Every field of ``type_`` that needs no argument, ``depth`` levels down
    (connections asked for ``page`` items; their default page size when None)."""
    type_ = get_named_type(type_)
    if isinstance(type_, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    if isinstance(type_, (GraphQLInterfaceType, GraphQLUnionType)) or depth <= 0:
        return "{ __typename }"
    parts = []
    for name, gql_field in type_.fields.items():
        # Counts carry no personal data (and a grouped count of nested connections
        # is a separate PostgreSQL issue, schema/loaders.py): left out.
        if name == "totalCount":
            continue
        if any(is_non_null_type(a.type) and not has_default(a) for a in gql_field.args.values()):
            continue
        inner = get_named_type(gql_field.type)
        if isinstance(inner, (GraphQLScalarType, GraphQLEnumType)):
            parts.append(name)
        elif isinstance(inner, GraphQLObjectType) and depth > 1:
            # A connection's edges and node are one hop, not three; small pages
            # keep the walk within the query-size limit.
            wrapper = inner.name.endswith(("Connection", "Edge"))
            sub = selection(inner, depth if wrapper else depth - 1, page)
            if sub:
                first = f"(first: {page})" if page and "first" in gql_field.args else ""
                parts.append(f"{name}{first} {sub}")
    return "{ " + " ".join(parts or ["__typename"]) + " }"


def has_default(argument: Any) -> bool:
    """Whether an argument has a default. strawberry's schema sets ``default_value``;
    graphql-core 3.3's ``build_schema`` (the plain path's schema, rebuilt from the
    SDL) keeps the literal in ``default`` and leaves ``default_value`` Undefined."""
    return argument.default_value is not Undefined or getattr(argument, "default", None) is not None


def _root_fields(schema: Any) -> tuple[list[tuple[str, Any]], list[tuple[str, str, Any]]]:
    """Root fields that need no argument, ``(name, type)``; and those that need
    exactly one ID argument, ``(name, argument, type)``, for the second pass."""
    plain, by_id = [], []
    for name, gql_field in schema.query_type.fields.items():
        required = [a for a, arg in gql_field.args.items() if is_non_null_type(arg.type) and not has_default(arg)]
        inner = get_named_type(gql_field.type)
        if not required:
            plain.append((name, inner))
        elif len(required) == 1 and str(get_named_type(gql_field.args[required[0]].type)) == "ID" and name != "node":
            by_id.append((name, required[0], inner))
    return plain, by_id


def _body(type_: Any, depth: int) -> str:
    return selection(type_, depth, WALK_PAGE) if isinstance(type_, (GraphQLObjectType, GraphQLInterfaceType)) else ""


TOO_LARGE = ("QUERY_TOO_LARGE", "QUERY_TOO_DEEP", "TOO_MANY_TOKENS", "DOCUMENT_TOO_LARGE")


def _ids(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "id" and isinstance(item, str):
                out.add(item)
            else:
                _ids(item, out)
    elif isinstance(value, list):
        for item in value:
            _ids(item, out)


def _customer_lists(value: Any, found: list[list[int]]) -> None:
    from kehu.ids import from_global_id

    if isinstance(value, list):
        pks: list[int] = []
        for item in value:
            node = item.get("node", item) if isinstance(item, dict) else None
            gid = node.get("id") if isinstance(node, dict) else None
            try:
                type_name, pk = from_global_id(gid) if isinstance(gid, str) else (None, 0)
            except Exception:
                type_name, pk = None, 0
            if type_name != "Customer":
                pks = []
                break
            pks.append(pk)
        if len(pks) >= 8:
            found.append(pks)
        for item in value:
            _customer_lists(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _customer_lists(item, found)


@contextmanager
def every_permission(kehu: Any, role: Any) -> Iterator[None]:
    """``role`` holds every permission while the block runs (read-only roles too:
    the walk sends queries only)."""
    from kehu.models import Role

    table = kehu.plugins.permission_table
    name = Role(role).value
    before = table.by_role[name]
    table.by_role = {**table.by_role, name: frozenset(table.permissions)}
    try:
        yield
    finally:
        table.by_role = {**table.by_role, name: before}


def policy_leaks(
    app: Any,
    *,
    as_: str = "analyst",
    depth: int = 4,
    planted: Canaries | None = None,
    all_permissions: bool = True,
) -> list[Leak]:
    """Plant canaries (unless ``planted`` is given), walk the schema as ``as_`` and
    return every leak found; ``[]`` is the answer to hope for. See the module doc.
    ``all_permissions=False`` walks with the role's own permissions only."""
    if all_permissions:
        with every_permission(app.kehu, app.accounts[as_].role):
            return policy_leaks(app, as_=as_, depth=depth, planted=planted, all_permissions=False)
    from kehu.ids import from_global_id
    from kehu.schema import compat

    canaries = planted or app.run(plant_canaries, app.kehu)
    schema = compat.graphql_schema(app.kehu.schema)
    plain, by_id = _root_fields(schema)
    answers: list[tuple[str, str]] = []
    unwalked: list[str] = []

    def ask(make, variables: dict[str, Any] | None = None) -> Any:
        """Run ``make(depth)``, one level shallower each time the query is too large."""
        for level in range(depth, 0, -1):
            document = make(level)
            response = app.post(document, variables, as_=as_)
            try:
                body = response.json()
            except ValueError:
                body = None
            codes = {e.get("extensions", {}).get("code") for e in (body or {}).get("errors") or ()}
            if codes & set(TOO_LARGE) and level > 1:
                continue
            answers.append((document, response.text))
            if codes & set(TOO_LARGE):
                unwalked.append(document)
            return body
        return None

    seen: set[str] = set()
    for name, type_ in plain:
        _ids(ask(lambda level, n=name, t=type_: "{ " + f"{n} {_body(t, level)}" + " }"), seen)
    by_type: dict[str, list[str]] = {}
    for gid in sorted(seen):
        try:
            type_name, _ = from_global_id(gid)
        except Exception:
            continue
        by_type.setdefault(type_name, []).append(gid)
    for name, argument, type_ in by_id:
        for type_name, gids in by_type.items():
            if name.lower().startswith(type_name.lower()):
                for gid in gids[:3]:
                    ask(
                        lambda level, n=name, a=argument, t=type_: (
                            f"query($v: ID!) {{ {n}({a}: $v) {_body(t, level)} }}"
                        ),
                        {"v": gid},
                    )
    for type_name, gids in by_type.items():
        gql_type = schema.type_map.get(type_name)
        if isinstance(gql_type, GraphQLObjectType):
            for gid in gids[:3]:
                ask(
                    lambda level, t=gql_type: (
                        f"query($v: ID!) {{ node(id: $v) {{ ... on {t.name} {_body(t, level)} }} }}"
                    ),
                    {"v": gid},
                )

    leaks = [Leak("not walked: refused as too large even one level deep", d) for d in unwalked]
    for document, text in answers:
        for what in canaries.found_in(text):
            leaks.append(Leak(f"clear value of {what}", document))
        if canaries.name_rank:
            lists: list[list[int]] = []
            try:
                _customer_lists(json.loads(text), lists)
            except ValueError:
                pass
            for listed in lists:
                # (customers created after the canaries have no rank: left out)
                pks = [pk for pk in listed if pk in canaries.name_rank]
                ranks = [canaries.name_rank[pk] for pk in pks]
                if len(pks) >= 8 and (ranks == sorted(ranks) or ranks == sorted(ranks, reverse=True)):
                    if sorted(pks) != pks and sorted(pks, reverse=True) != pks:
                        leaks.append(Leak("a list of customers ordered by their (masked) names", document))
    return leaks
