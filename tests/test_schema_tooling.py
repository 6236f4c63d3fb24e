"""``kehu schema`` for frontend teams: breaking changes against an older SDL,
Apollo's possibleTypes, and a project's documents validated together."""

import json
from pathlib import Path

import pytest
from serving import kehu, write_config

from kehu.server.plugin_manager import BUILTIN_PLUGINS

CONSOLE_OPERATIONS = Path(__file__).parent.parent / "plugins" / "console" / "operations"
ALL = list(BUILTIN_PLUGINS)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    directory = tmp_path_factory.mktemp("schema")
    return write_config(directory, f"sqlite://{directory / 'k.db'}", enabled=ALL)


@pytest.fixture(scope="module")
def sdl(config):
    return kehu(config, "schema").stdout


@pytest.fixture(scope="module")
def bare_sdl(sdl):
    """The SDL without descriptions: one line per field, for editing an "old" schema."""
    from kehu.testing import sdl_without_descriptions

    return sdl_without_descriptions(sdl)


def test_the_same_schema_has_no_breaking_changes(config, sdl, tmp_path):
    old = tmp_path / "old.graphql"
    old.write_text(sdl)
    result = kehu(config, "schema", "--check", str(old))
    assert result.stdout.strip().splitlines()[-1] == f"0 breaking, 0 dangerous change(s) against {old}"


def test_removed_fields_and_new_required_arguments_are_breaking(config, bare_sdl, tmp_path):
    old = tmp_path / "old.graphql"
    # The old schema had a field the new one lacks, and `customer(id)` took no argument.
    text = bare_sdl.replace(
        "  lastInteractionAt: DateTime\n", "  lastInteractionAt: DateTime\n  legacyCode: String\n", 1
    )
    text = text.replace("customer(id: ID!): Customer", "customer: Customer", 1)
    assert text.count("legacyCode") == 1 and "customer: Customer" in text
    old.write_text(text)
    result = kehu(config, "schema", "--check", str(old), check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "breaking   FIELD_REMOVED: Field Customer.legacyCode was removed." in lines
    assert any(line.startswith("breaking   REQUIRED_ARG_ADDED:") and "customer" in line for line in lines)


def test_dangerous_changes_are_reported_without_failing(config, bare_sdl, tmp_path):
    old = tmp_path / "old.graphql"
    # The old schema lacked an enum value (the first NOTE): a value added to an enum.
    assert "  NOTE\n" in bare_sdl
    old.write_text(bare_sdl.replace("  NOTE\n", "", 1))
    result = kehu(config, "schema", "--check", str(old))
    assert any(line.startswith("dangerous  VALUE_ADDED_TO_ENUM:") for line in result.stdout.splitlines())


@pytest.mark.parametrize("content, message", [(None, "no such file"), ("type Query {", "Syntax Error")])
def test_an_unreadable_old_schema_is_one_line_and_exit_2(config, tmp_path, content, message):
    old = tmp_path / "old.graphql"
    if content is not None:
        old.write_text(content)
    result = kehu(config, "schema", "--check", str(old), check=False)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_possible_types_is_what_apollo_client_needs(config):
    possible = json.loads(kehu(config, "schema", "--possible-types").stdout)
    assert {"Customer", "Interaction", "AccountOwner", "Complaint", "Survey"} <= set(possible["Node"])
    assert possible["Node"] == sorted(possible["Node"])


def test_the_console_operations_validate_as_one_project(config):
    result = kehu(config, "schema", "--validate", str(CONSOLE_OPERATIONS))
    assert result.stdout.strip().splitlines()[-1].endswith("valid")


def test_a_fragment_defined_twice_or_an_invalid_operation_is_named(config, tmp_path):
    (tmp_path / "A.graphql").write_text("query A { me { ...Me } }\nfragment Me on AccountOwner { id }\n")
    (tmp_path / "B.graphql").write_text("query B { me { ...Me } }\nfragment Me on AccountOwner { name }\n")
    (tmp_path / "C.graphql").write_text("query C { me { shoeSize } }\n")
    result = kehu(config, "schema", "--validate", str(tmp_path), check=False)
    assert result.returncode == 1
    assert f"{tmp_path / 'B.graphql'}: fragment Me is also defined in {tmp_path / 'A.graphql'}" in result.stdout
    assert "C: Cannot query field 'shoeSize' on type 'AccountOwner'." in result.stdout
