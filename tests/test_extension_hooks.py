"""kehu's runner of schema-extension hooks (``schema.extensions.HookRunner``) does
what strawberry's ``SchemaExtensionsRunner`` does — the same hooks in the same
order, the same exceptions, suppressions and results — for every kind of hook a
plugin's extension may define, sync and async, on the normal way out and with
exceptions on the way in, in the block and on the way out."""

import asyncio

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner

from kehu.schema.extensions import HookRunner


class Boom(Exception):
    pass


def make_extensions(log: list, faults: dict) -> list[SchemaExtension]:
    """Four extensions, one per kind of hook, each logging entry and exit; ``faults``
    makes one of them raise on entering or on leaving, or swallow an exception."""

    def check(name, moment):
        if faults.get(name) == moment:
            log.append(f"{name} raises {moment}")
            raise Boom(f"{name} {moment}")

    class Generator(SchemaExtension):
        def on_operation(self):
            log.append("generator in")
            check("generator", "in")
            try:
                yield
            except Boom as exc:
                log.append(f"generator saw {exc}")
                if faults.get("generator") != "swallows":
                    raise
            log.append("generator out")
            check("generator", "out")

        def get_results(self):
            return {"generator": 1}

    class AsyncGenerator(SchemaExtension):
        async def on_operation(self):
            log.append("async generator in")
            check("async", "in")
            try:
                yield
            except Boom as exc:
                log.append(f"async generator saw {exc}")
                if faults.get("async") != "swallows":
                    raise
            log.append("async generator out")
            check("async", "out")

        async def get_results(self):
            return {"async": 2}

    class Function(SchemaExtension):
        def on_operation(self):
            log.append("function")
            check("function", "in")

    class Coroutine(SchemaExtension):
        async def on_operation(self):
            log.append("coroutine")
            check("coroutine", "in")

    class Quiet(SchemaExtension):
        """Defines no hook."""

    return [Generator(), Quiet(), AsyncGenerator(), Function(), Coroutine()]


FAULTS = [
    {},
    {"block": True},
    {"block": True, "generator": "swallows"},
    {"block": True, "async": "swallows"},
    {"generator": "out"},
    {"async": "out"},
    {"async": "out", "generator": "swallows"},
    {"generator": "in"},
    {"function": "in"},
    {"coroutine": "in"},
]


class Context:
    extensions_results: dict = {"extra": 3}


async def outcome(runner_class, faults: dict, order: list | None = None):
    log: list[str] = []
    extensions = make_extensions(log, faults)
    if order is not None:
        extensions = [extensions[i] for i in order]
    runner = runner_class(execution_context=None, extensions=extensions)
    try:
        async with runner.operation():
            log.append("block")
            if faults.get("block"):
                raise Boom("block")
        result = "completed"
    except Boom as exc:
        result = f"raised {exc} (context: {exc.__context__!r})"
    return log, result, await runner.get_extensions_results(Context())


@pytest.mark.parametrize("faults", FAULTS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "none")
def test_the_hooks_run_as_strawberry_runs_them(faults):
    for order in (None, [4, 3, 2, 1, 0]):
        ours = asyncio.run(outcome(HookRunner, faults, order))
        theirs = asyncio.run(outcome(SchemaExtensionsRunner, faults, order))
        assert ours == theirs


def test_sync_hooks_run_as_strawberry_runs_them():
    def run(runner_class, faults):
        log: list[str] = []
        extensions = [e for e in make_extensions(log, faults) if type(e).__name__ in ("Generator", "Function", "Quiet")]
        try:
            with runner_class(execution_context=None, extensions=extensions).operation():
                log.append("block")
                if faults.get("block"):
                    raise Boom("block")
            return log, "completed"
        except Boom as exc:
            return log, f"raised {exc}"

    for faults in ({}, {"block": True}, {"block": True, "generator": "swallows"}, {"generator": "out"}):
        assert run(HookRunner, faults) == run(SchemaExtensionsRunner, faults)
    with pytest.raises(RuntimeError, match="failed to complete synchronously"):
        with HookRunner(execution_context=None, extensions=make_extensions([], {})).operation():
            pass


def test_every_step_has_its_hooks():
    log: list[str] = []

    class Steps(SchemaExtension):
        def on_operation(self):
            log.append("operation")
            yield

        def on_parse(self):
            log.append("parse")
            yield

        def on_validate(self):
            log.append("validate")
            yield

        def on_execute(self):
            log.append("execute")
            yield

    runner = HookRunner(execution_context=None, extensions=[Steps()])
    for step in (runner.operation, runner.parsing, runner.validation, runner.executing):
        with step():
            pass
    assert log == ["operation", "parse", "validate", "execute"]
