"""Every type, field, argument, input field and enum value of the composed
schema — the core and every built-in plugin — has a description."""

import pytest

from kehu.schema import compat
from kehu.schema.descriptions import describe_enum_values, undocumented
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.testing import assert_schema_documented

ALL = tuple(BUILTIN_PLUGINS)


def test_the_core_schema_is_fully_described(app):
    assert_schema_documented(app.kehu)


def test_the_schema_with_every_built_in_plugin_is_fully_described(make_app):
    assert_schema_documented(make_app(enabled=ALL).kehu)


def test_the_check_names_each_undocumented_element(app):
    import strawberry

    @strawberry.type
    class Bare:
        size: int

    @strawberry.type
    class Query:
        @strawberry.field
        def bare(self, colour: str) -> Bare:
            return Bare(size=1)

    schema = compat.graphql_schema(strawberry.Schema(query=Query))
    assert undocumented(schema) == ["Bare", "Bare.size", "Query", "Query.bare", "Query.bare(colour)"]
    with pytest.raises(AssertionError, match="5 schema element"):
        assert_schema_documented(type("K", (), {"schema": type("S", (), {"graphql_schema": schema})()})())


def test_enum_values_must_all_be_described():
    from enum import Enum

    import strawberry

    class Colour(Enum):
        RED = "red"
        BLUE = "blue"

    with pytest.raises(ValueError, match=r"without a description \['BLUE'\]"):
        describe_enum_values(strawberry.enum(Colour, description="A colour."), {"RED": "Red."})


def test_a_description_in_the_code_wins_over_the_conventional_one(app):
    schema = app.kehu.schema.graphql_schema
    # `filter` is described by the convention on customers, by the code on accountOwners.
    assert schema.query_type.fields["customers"].args["filter"].description.startswith("Only the items")
    assert schema.query_type.fields["accountOwners"].args["filter"].description == "Only the owners matching it."


def test_the_conventional_descriptions_are_in_what_clients_see(app):
    """Introspection and the printed SDL show them, on the fast path and the plain one."""
    from kehu.schema.descriptions import PAGE_ARGUMENTS

    body = app.data('{ __type(name: "Query") { fields { name args { name description } } } }', as_="admin")
    customers = next(f for f in body["__type"]["fields"] if f["name"] == "customers")
    assert {a["name"]: a["description"] for a in customers["args"]}["after"] == PAGE_ARGUMENTS["after"]
    assert PAGE_ARGUMENTS["after"] in app.kehu.schema.as_str()
