"""Hooks run exactly as pluggy says: the order of ``pm.hook.name(...)`` in every
family kehu calls (registration, events, first result, lifecycle, the schema),
``firstresult`` meaning the first non-None answer, unknown hook names refused and
hook wrappers refused at start-up."""

import asyncio
import types

import pytest

from kehu import hookimpl
from kehu.config import parse_config
from kehu.errors import PluginError
from kehu.schema.registry import GraphQLRegistry
from kehu.server.runtime import Kehu

# Registered in this order (third-party plugins by name); marked as the name says.
MARKS = {
    "a_plain": {},
    "b_first": {"tryfirst": True},
    "c_last": {"trylast": True},
    "d_plain": {},
    "e_first": {"tryfirst": True},
    "f_last": {"trylast": True},
    "g_plain": {},
}

# One hook per family, with the arguments kehu calls it with.
FAMILIES = {
    "registration": ("kehu_permissions", {}),
    "schema": ("kehu_graphql", {}),
    "event": ("kehu_interaction_logged", {"interaction": None, "actor": None}),
    "first result (async)": ("kehu_segment_members", {"segment_key": "vip", "viewer": None}),
    "first result (start-up)": ("kehu_field_guard", {}),
    # kehu_shutdown rather than kehu_startup: the core's start-up reads the database,
    # which these apps do not have; both go through the same loop (hooks.lifecycle).
    "lifecycle": ("kehu_shutdown", {}),
}


def recording_plugin(name: str, calls: list[str], answer: object = None) -> object:
    """A plugin implementing one hook of each family, marked as MARKS says; each
    call appends ``name`` to ``calls`` and a first-result hook answers ``answer``."""
    mark = hookimpl(**MARKS[name])

    def called(value: object = None) -> object:
        calls.append(name)
        return value

    @mark
    def kehu_permissions():
        return called([])

    @mark
    def kehu_graphql(graphql):
        called()

    @mark
    def kehu_interaction_logged(interaction, actor, kehu):
        called()

    @mark
    def kehu_segment_members(segment_key, viewer, kehu):
        return called(answer)

    @mark
    def kehu_field_guard(kehu):
        return called(answer)

    @mark
    def kehu_shutdown(kehu):
        called()

    return types.SimpleNamespace(**{k: v for k, v in locals().items() if k.startswith("kehu_")})


def recording_plugins(calls: list[str], answers: dict[str, object] | None = None) -> dict[str, object]:
    return {name: recording_plugin(name, calls, (answers or {}).get(name)) for name in MARKS}


def kehu_with(plugins: dict[str, object]) -> Kehu:
    return Kehu(parse_config({"plugins": {"enabled": list(plugins)}}), extra_plugins=plugins)


def pluggy_order(kehu: Kehu, calls: list[str], hook: str, arguments: dict) -> list[str]:
    """The order pluggy's own caller runs the implementations in."""
    calls.clear()
    caller = getattr(kehu.plugins.pm.hook, hook)
    if hook == "kehu_graphql":
        caller(graphql=GraphQLRegistry())
    else:
        caller(**arguments, kehu=kehu)
    return list(calls)


def kehus_order(kehu: Kehu, calls: list[str], family: str) -> list[str]:
    hook, arguments = FAMILIES[family]
    calls.clear()
    if family == "registration":
        kehu.plugins.each(hook, **arguments)
    elif family == "schema":
        _ = kehu.schema
    elif family == "event":
        _ = kehu.field_guard  # built on first use, through a hook of its own
        calls.clear()
        asyncio.run(kehu.hooks.dispatch_event(hook, **arguments))
    elif family == "first result (async)":
        asyncio.run(kehu.hooks.first(hook, **arguments))
    elif family == "first result (start-up)":
        _ = kehu.field_guard
    elif family == "lifecycle":
        asyncio.run(kehu.hooks.lifecycle(hook, kehu, strict=True))
    return list(calls)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_calls_hooks_in_pluggys_order(family):
    calls: list[str] = []
    kehu = kehu_with(recording_plugins(calls))
    expected = pluggy_order(kehu, calls, *FAMILIES[family])
    assert sorted(expected) == sorted(MARKS)  # pluggy called every one (none answered)
    assert kehus_order(kehu, calls, family) == expected
    # tryfirst ones first (the last registered first), the plain ones last-registered-first,
    # the trylast ones at the end (pluggy puts each new one before the others of its kind).
    assert expected == ["e_first", "b_first", "g_plain", "d_plain", "a_plain", "c_last", "f_last"]


@pytest.mark.parametrize("family", [f for f in FAMILIES if f.startswith("first result")])
def test_first_result_hooks_stop_at_the_first_answer_pluggy_would_return(family):
    calls: list[str] = []
    hook, arguments = FAMILIES[family]
    answers = {"a_plain": "from a", "d_plain": "from d", "c_last": "from c"}
    kehu = kehu_with(recording_plugins(calls, answers))
    calls.clear()
    winner = getattr(kehu.plugins.pm.hook, hook)(**arguments, kehu=kehu)
    pluggy_calls = list(calls)
    calls.clear()
    if family == "first result (async)":
        answer = asyncio.run(kehu.hooks.first(hook, **arguments))
    else:
        answer = kehu.field_guard
    assert (answer, calls) == (winner, pluggy_calls) == ("from d", ["e_first", "b_first", "g_plain", "d_plain"])


def test_the_schema_reads_the_same_whatever_order_the_hooks_ran_in():
    import strawberry

    def plugin(field_name: str, **marks):
        cls = strawberry.type(type(f"Q_{field_name}", (), {"__annotations__": {field_name: int}, field_name: 1}))
        return types.SimpleNamespace(kehu_graphql=hookimpl(**marks)(lambda graphql: graphql.query(cls)))

    plain = kehu_with({"early": plugin("early"), "late": plugin("late")}).schema.as_str()
    marked = kehu_with({"early": plugin("early", trylast=True), "late": plugin("late", tryfirst=True)}).schema.as_str()
    swapped = kehu_with({"early": plugin("early", tryfirst=True), "late": plugin("late", trylast=True)}).schema.as_str()
    assert plain == marked == swapped
    assert "early: Int!" in plain and "late: Int!" in plain


def test_a_misspelled_hook_name_raises_in_every_call():
    kehu = kehu_with({})
    with pytest.raises(LookupError, match="kehu_interaction_loged"):
        kehu.plugins.each("kehu_interaction_loged")
    with pytest.raises(LookupError, match="kehu_segment_member'"):
        asyncio.run(kehu.hooks.first("kehu_segment_member", segment_key="x", viewer=None))
    with pytest.raises(LookupError, match="kehu_customer_create'"):
        asyncio.run(kehu.hooks.dispatch_event("kehu_customer_create", customer=None, actor=None))
    with pytest.raises(LookupError, match="kehu_start'"):
        asyncio.run(kehu.hooks.lifecycle("kehu_start", kehu, strict=False))
    with pytest.raises(LookupError, match="kehu_customer_create'"):
        kehu.hooks.check("kehu_customer_create")


def test_a_first_result_hook_is_not_collected_and_a_collecting_hook_has_no_first():
    kehu = kehu_with({})
    with pytest.raises(LookupError, match="first-result hook"):
        kehu.plugins.each("kehu_segment_members", segment_key="x", viewer=None)
    with pytest.raises(LookupError, match="not a first-result hook"):
        kehu.plugins.first("kehu_permissions")


def test_a_hook_defined_by_a_plugin_that_is_not_enabled_is_asked_for_not_called():
    off = kehu_with({})
    assert not off.plugins.is_defined("kehu_complaint_filed")
    assert not off.hooks.implemented("kehu_complaint_filed")  # asking never raises
    on = Kehu(parse_config({"plugins": {"enabled": ["complaints"]}}))
    assert on.plugins.is_defined("kehu_complaint_filed")
    asyncio.run(on.hooks.dispatch_event("kehu_complaint_filed", complaint=None, actor=None))  # no listener: fine


@pytest.mark.parametrize("option", ["hookwrapper", "wrapper"])
def test_hook_wrappers_are_refused_at_start_up_with_one_line(option):
    def kehu_startup(kehu):
        yield

    wrapping = types.SimpleNamespace(kehu_startup=hookimpl(**{option: True})(kehu_startup))
    with pytest.raises(PluginError) as error:
        kehu_with({"wrapping": wrapping})
    message = str(error.value)
    assert message.startswith("plugin 'wrapping': kehu_startup is a hook wrapper")
    assert "\n" not in message


def test_settings_models_are_collected_from_every_plugin():
    assert not Kehu(parse_config({})).plugins.is_firstresult("kehu_settings_model")
    kehu = Kehu(parse_config({"plugins": {"enabled": ["loyalty", "complaints"]}}))
    assert kehu.settings_for("loyalty") is not None and kehu.settings_for("complaints") is not None
