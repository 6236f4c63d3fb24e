"""kehu.schema.compat: every use of strawberry's and graphql-core's internals in
one module, checked at start-up; when the check fails (or KEHU_PLAIN_EXECUTION
forces it to), schemas are built on the plain path and answer the same."""

import dataclasses
import logging
import pathlib
import re

import graphql
import pytest
import strawberry
from graphql.utilities import find_breaking_changes, find_dangerous_changes

from kehu.config import parse_config
from kehu.schema import compat
from kehu.schema.executor import KehuExecutor
from kehu.server.runtime import Kehu

ROOT = pathlib.Path(__file__).resolve().parent.parent
PLUGINS = ["segmentation", "loyalty", "complaints", "surveys", "masking"]
FORCED = bool(compat.problems()) and compat.problems() == (f"{compat.PLAIN_EXECUTION_ENV} is set",)


@pytest.fixture
def recheck():
    """Run the structural check again (it is cached per process) before and after."""
    compat._structural_problems.cache_clear()
    yield
    compat._structural_problems.cache_clear()


def full_kehu() -> Kehu:
    return Kehu(parse_config({"plugins": {"enabled": PLUGINS}}))


def fast_resolvers(schema) -> int:
    return sum(
        1
        for t in schema.graphql_schema.type_map.values()
        if isinstance(t, graphql.GraphQLObjectType)
        for f in t.fields.values()
        if hasattr(f.resolve, "_kehu_fast")
    )


@pytest.mark.skipif(FORCED, reason=f"{compat.PLAIN_EXECUTION_ENV} forces the plain path")
def test_the_check_passes_on_the_versions_kehu_pins():
    assert compat.problems() == ()
    schema = full_kehu().schema
    assert not schema.plain and schema.execution_context_class is KehuExecutor
    assert fast_resolvers(schema) > 100


def test_forcing_the_plain_path_builds_schemas_without_kehus_executor_or_resolvers(monkeypatch, caplog):
    monkeypatch.setenv(compat.PLAIN_EXECUTION_ENV, "1")
    with caplog.at_level(logging.INFO, logger=compat.__name__):
        assert not compat.fast_path()
        schema = full_kehu().schema
    assert schema.plain and schema.execution_context_class is not KehuExecutor
    # The graphql-core schema is rebuilt from the SDL, not read from strawberry's internals.
    core = schema.graphql_schema
    assert core is compat.graphql_schema(schema)
    assert fast_resolvers(schema) == 0
    reference = build_from_public_sdl(schema)
    assert find_breaking_changes(reference, core) == find_dangerous_changes(reference, core) == []


def build_from_public_sdl(schema) -> graphql.GraphQLSchema:
    return graphql.build_schema(schema.as_str())


def test_a_changed_internal_turns_the_fast_path_off_with_one_warning(monkeypatch, caplog, recheck):
    if FORCED:
        monkeypatch.delenv(compat.PLAIN_EXECUTION_ENV)
    # As if graphql-core had renamed a parameter of a method kehu's executor overrides.
    changed = {**compat.EXECUTOR_METHODS, "execute_fields": ("parent_type", "source", "path", "fields", "context")}
    monkeypatch.setattr(compat, "EXECUTOR_METHODS", changed)
    with caplog.at_level(logging.WARNING, logger=compat.__name__):
        assert not compat.fast_path()
        assert not compat.fast_path()
        schema = full_kehu().schema
    warnings = [r for r in caplog.records if r.name == compat.__name__]
    assert len(warnings) == 1 and "execute_fields" in warnings[0].getMessage(), warnings
    assert warnings[0].levelno == logging.WARNING
    assert schema.plain and fast_resolvers(schema) == 0


def test_a_reshaped_strawberry_object_turns_the_fast_path_off(monkeypatch, recheck):
    if FORCED:
        monkeypatch.delenv(compat.PLAIN_EXECUTION_ENV)

    @dataclasses.dataclass
    class Info:  # as if strawberry's Info needed one more argument than kehu gives it
        _raw_info: object
        _field: object
        _operation: object

    monkeypatch.setattr(compat, "Info", Info)
    assert compat.problems() == ("strawberry's Info is no longer made from _raw_info and _field",)


# Names the scan below may meet that are kehu's own, not a library's: (file, name).
OWN_NAMES = {("core/jobs.py", "_loop"), ("core/cli/sources.py", "_rows")}


def library_private_names() -> set[str]:
    """Underscore names strawberry and graphql-core define: attributes set on
    self/cls, methods, module and class attributes."""
    names: set[str] = set()
    for package in (strawberry, graphql):
        for path in pathlib.Path(package.__file__).parent.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(re.findall(r"\b(?:self|cls)\.(_[a-z]\w*)", text))
            names.update(re.findall(r"^\s*(?:async )?def (_[a-z]\w*)", text, re.M))
            names.update(re.findall(r"^\s*(_[a-z]\w*)\s*[:=]", text, re.M))
    return names


ACCESSES = (
    re.compile(r"(?:\w|\))\.(_[a-z]\w*)"),  # obj._name, call()._name
    re.compile(r"\b(?:getattr|hasattr|setattr|delattr)\([^,()]+,\s*[\"'](_[a-z]\w*)"),
    re.compile(r"\b(?:Info|info_class)\([^)]*?\b(_[a-z]\w*)="),  # strawberry's Info(_raw_info=...)
)
OWN_ACCESS = re.compile(r"\b(?:self|cls)\.(_[a-z]\w*)")


def test_no_private_name_of_strawberry_or_graphql_core_is_used_outside_the_compat_module():
    private = library_private_names()
    found = []
    for folder in ("core", "schema", "plugins", "tests", "benchmarks", "examples"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative in ("schema/compat.py", "tests/test_compat.py") or ".venv" in relative:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                line = OWN_ACCESS.sub("", line)  # an object's own attributes are its own business
                for pattern in ACCESSES:
                    for name in pattern.findall(line):
                        if name in private and (relative, name) not in OWN_NAMES:
                            found.append(f"{relative}:{number}: {name}")
    assert not found, "use kehu.schema.compat instead:\n" + "\n".join(found)
