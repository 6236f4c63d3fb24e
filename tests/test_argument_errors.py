"""No argument or variable problem is ever an internal error.

The schema is walked (every built-in plugin enabled): each root query and
mutation field is called, for each of its arguments, with the argument left out,
``null`` (as a literal and as a variable, including a nullable variable where
the argument is non-null with a default), and values of the wrong type (literal
and variable, at the argument and at each field of an input object). The other
required arguments get well-typed values, optional ones are left out. Whatever the outcome — data, ``userErrors``, a
validation or coercion error — no error may lack ``extensions.code``, and none
may be ``INTERNAL_ERROR``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    get_named_type,
    is_leaf_type,
)
from graphql.pyutils import Undefined

from kehu.server.plugin_manager import BUILTIN_PLUGINS

PLUGINS = tuple(BUILTIN_PLUGINS)
SETTINGS = {
    "segmentation": {"recompute_interval_minutes": 0},
    "loyalty": {"schedule_hours": 0},
    "complaints": {"scheduler_interval_minutes": 0},
}
# Rate limiting off: the walk sends a few thousand requests inside one frozen minute.
CONFIG = {"limits": {"rate_per_minute": 0}}
SKIP = {"logout"}  # would end the session the walk runs in


def type_ref(gql_type: GraphQLInputType) -> str:
    if isinstance(gql_type, GraphQLNonNull):
        return type_ref(gql_type.of_type) + "!"
    if isinstance(gql_type, GraphQLList):
        return f"[{type_ref(gql_type.of_type)}]"
    return gql_type.name


SCALAR_SAMPLES = {
    "String": "text",
    "ID": "Q3VzdG9tZXI6MQ",
    "Int": 1,
    "Float": 1.5,
    "Boolean": True,
    "DateTime": "2026-01-01T09:00:00+00:00",
    "Date": "2026-01-01",
    "Decimal": "1.00",
    "JSON": {"k": "v"},
}
# A value of another JSON type than the argument's: a wrong-typed variable.
WRONG_JSON = {"String": 12, "ID": 1.5, "Int": "one", "Float": "x", "Boolean": "yes", "DateTime": 5, "Date": 5}
# A literal of another GraphQL kind: a wrong-typed argument in the document.
WRONG_LITERAL = {"String": "12", "ID": "1.5", "Int": '"one"', "Float": '"x"', "Boolean": '"yes"', "DateTime": "5"}


def sample(gql_type: GraphQLInputType) -> Any:
    """A well-typed value (JSON, for a variable)."""
    if isinstance(gql_type, GraphQLNonNull):
        return sample(gql_type.of_type)
    if isinstance(gql_type, GraphQLList):
        return [sample(gql_type.of_type)]
    if isinstance(gql_type, GraphQLEnumType):
        return next(iter(gql_type.values))
    if isinstance(gql_type, GraphQLInputObjectType):
        return {
            name: sample(field.type)
            for name, field in gql_type.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        }
    return SCALAR_SAMPLES.get(gql_type.name, "text")


def wrong_value(gql_type: GraphQLInputType) -> Any:
    named = get_named_type(gql_type)
    if isinstance(named, GraphQLInputObjectType):
        return "not an object"
    if isinstance(named, GraphQLEnumType):
        return "NOT_A_VALUE"
    if isinstance(gql_type, (GraphQLList,)) or (
        isinstance(gql_type, GraphQLNonNull) and isinstance(gql_type.of_type, GraphQLList)
    ):
        return [{"nested": "object"}]
    return WRONG_JSON.get(named.name, {"an": "object"})


def wrong_literal(gql_type: GraphQLInputType) -> str:
    named = get_named_type(gql_type)
    if isinstance(named, GraphQLInputObjectType):
        return '"not an object"'
    if isinstance(named, GraphQLEnumType):
        return "NOT_A_VALUE"
    return WRONG_LITERAL.get(named.name, "{an: 1}")


def required(arg: GraphQLArgument) -> bool:
    return isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined


@dataclass
class Probe:
    what: str
    document: str
    variables: dict[str, Any]


def selection(field) -> str:
    return "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"


def probes(root: str, name: str, field) -> Iterator[Probe]:
    """The documents that call ``name`` with each argument missing, null and wrong."""
    args: dict[str, GraphQLArgument] = field.args
    tail = selection(field)

    under_test: str | None = None

    def call(overrides: dict[str, str], skip: str | None = None) -> tuple[str, dict[str, Any]]:
        declarations, arguments, variables = [], [], {}
        for arg_name, arg in args.items():
            if arg_name == skip:
                continue
            if arg_name not in overrides and arg_name != under_test and not required(arg):
                continue  # left out: the argument under test is what gets looked at
            if arg_name in overrides:
                arguments.append(f"{arg_name}: {overrides[arg_name]}")
                continue
            declarations.append(f"${arg_name}: {type_ref(arg.type)}")
            arguments.append(f"{arg_name}: ${arg_name}")
            variables[arg_name] = sample(arg.type)
        head = f"{root}({', '.join(declarations)})" if declarations else root
        call_args = f"({', '.join(arguments)})" if arguments else ""
        return f"{head} {{ {name}{call_args}{tail} }}", variables

    yield Probe("well-typed", *call({}))
    for arg_name, arg in args.items():
        under_test = arg_name
        yield Probe(f"{arg_name} missing", *call({}, skip=arg_name))
        yield Probe(f"{arg_name}: null", *call({arg_name: "null"}))
        yield Probe(f"{arg_name}: wrong literal", *call({arg_name: wrong_literal(arg.type)}))
        document, variables = call({})
        yield Probe(f"${arg_name} = null", document, {**variables, arg_name: None})
        yield Probe(f"${arg_name} wrong", document, {**variables, arg_name: wrong_value(arg.type)})
        if isinstance(arg.type, GraphQLNonNull):
            # A nullable variable in a non-null position with a default (allowed by
            # the spec's variable rules), sent as null.
            relaxed = document.replace(f"${arg_name}: {type_ref(arg.type)}", f"${arg_name}: {type_ref(arg.type)[:-1]}")
            yield Probe(f"${arg_name} nullable = null", relaxed, {**variables, arg_name: None})
        named = get_named_type(arg.type)
        if isinstance(named, GraphQLInputObjectType):
            base = sample(arg.type)
            base = base[0] if isinstance(base, list) else base
            for input_name, input_field in named.fields.items():
                for label, value in (("null", None), ("wrong", wrong_value(input_field.type))):
                    value_in = {**base, input_name: value}
                    if isinstance(get_named_type(arg.type), GraphQLInputObjectType) and isinstance(
                        sample(arg.type), list
                    ):
                        value_in = [value_in]
                    yield Probe(f"${arg_name}.{input_name} {label}", document, {**variables, arg_name: value_in})
                missing = {k: v for k, v in base.items() if k != input_name}
                yield Probe(f"${arg_name}.{input_name} missing", document, {**variables, arg_name: missing})


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    from kehu.testing import KehuHarness, database_url

    directory = tmp_path_factory.mktemp("arguments")
    with database_url(directory) as url:
        with KehuHarness(url, enabled=PLUGINS, settings=SETTINGS, config=CONFIG) as app:
            schema = app.kehu.schema.graphql_schema
            outcomes = []
            for root, root_type in (("query", schema.query_type), ("mutation", schema.mutation_type)):
                for name, field in root_type.fields.items():
                    if name in SKIP:
                        continue
                    for probe in probes(root, name, field):
                        response = app.post(probe.document, probe.variables, as_="admin")
                        outcomes.append((f"{name} / {probe.what}", probe, response))
            yield outcomes, schema


def test_the_walk_reaches_every_argument_of_every_root_field(walked):
    outcomes, schema = walked
    called = {label.split(" / ")[0] for label, _, _ in outcomes}
    expected = {*schema.query_type.fields, *schema.mutation_type.fields} - SKIP
    assert called == expected
    arguments = sum(len(f.args) for t in (schema.query_type, schema.mutation_type) for f in t.fields.values())
    assert len(outcomes) > 5 * arguments


def test_no_argument_problem_is_an_internal_error_or_uncoded(walked):
    outcomes, _ = walked
    problems = []
    for label, probe, response in outcomes:
        if response.status_code != 200:
            problems.append(f"{label}: HTTP {response.status_code} {response.text[:200]}")
            continue
        for error in response.json().get("errors") or ():
            code = (error.get("extensions") or {}).get("code")
            if code in (None, "INTERNAL_ERROR"):
                problems.append(
                    f"{label}: {code} {error['message'][:160]}\n    {probe.document}\n    {json.dumps(probe.variables)[:300]}"
                )
    assert problems == [], "\n".join(problems[:40]) + f"\n({len(problems)} in all)"
