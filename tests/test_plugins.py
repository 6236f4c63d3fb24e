"""Plugins: discovery, validation at start-up, schema composition, events."""

import logging
import types

import pytest
import sample_plugin
import strawberry

from kehu import hookimpl
from kehu.access import Permission
from kehu.config import parse_config
from kehu.errors import PluginError
from kehu.server.runtime import Kehu
from kehu.testing import sdl_without_descriptions

STICKERS = {"stickers": sample_plugin}


def kehu_with(enabled=(), extra=None, settings=None, roles=None):
    raw = {"plugins": {"enabled": list(enabled), **(settings or {})}}
    if roles:
        raw["roles"] = roles
    return Kehu(parse_config(raw), extra_plugins=extra)


def plugin(**hooks):
    """A throw-away plugin object made of hook implementations."""
    return types.SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def sdl(kehu):
    return sdl_without_descriptions(kehu)


def test_without_plugins_the_schema_holds_only_core_types():
    text = sdl(kehu_with())
    assert "type Customer implements Node" in text
    assert "stickers" not in text and "Sticker" not in text
    assert "loyalty" not in text.lower()


def test_enabling_a_plugin_adds_its_fields_and_disabling_removes_them():
    on = sdl(kehu_with(["stickers"], STICKERS))
    assert "stickers: [String!]!" in on
    assert "addSticker(input: AddStickerInput!): AddStickerPayload!" in on
    assert "stickerCount: Int!" in on
    off = sdl(kehu_with([], STICKERS))
    assert "stickers" not in off and "AddSticker" not in off


def test_installed_but_disabled_plugin_contributes_no_tables():
    kehu = kehu_with([], STICKERS)
    assert set(kehu.apps) == {"core"}
    assert "stickers" in kehu_with(["stickers"], STICKERS).apps


def test_unknown_plugin_name_is_one_clear_error():
    with pytest.raises(PluginError, match=r"plugins.enabled: unknown plugin 'bogus'"):
        kehu_with(["bogus"])


def test_invalid_setting_names_plugin_and_key():
    with pytest.raises(PluginError, match=r"^plugins\.stickers\.max_stickers: "):
        kehu_with(["stickers"], STICKERS, settings={"stickers": {"max_stickers": "many"}})
    with pytest.raises(PluginError, match=r"^plugins\.stickers\.colour: unknown setting"):
        kehu_with(["stickers"], STICKERS, settings={"stickers": {"colour": "red"}})


def test_settings_are_validated_and_available():
    kehu = kehu_with(["stickers"], STICKERS, settings={"stickers": {"max_stickers": 2}})
    assert kehu.settings_for("stickers").max_stickers == 2


def test_missing_required_plugin_is_refused():
    needy = plugin(kehu_plugin_info=lambda: {"requires": ["stickers"]})
    with pytest.raises(PluginError, match=r"plugin 'needy' requires plugin 'stickers'"):
        kehu_with(["needy"], {"needy": needy})


def test_incompatible_plugin_api_version_is_refused():
    old = plugin(kehu_plugin_info=lambda: {"api": ">=2"})
    with pytest.raises(PluginError, match=r"plugin 'old': supports kehu plugin API >=2"):
        kehu_with(["old"], {"old": old})


def test_misspelled_hook_is_refused_with_plugin_name():
    typo = plugin(kehu_interaction_loged=lambda interaction: None)
    with pytest.raises(PluginError, match=r"plugin 'typo': .*kehu_interaction_loged"):
        kehu_with(["typo"], {"typo": typo})


def test_hook_with_parameters_not_in_spec_is_refused():
    wrong = plugin(kehu_customer_created=lambda customer, colour: None)
    with pytest.raises(PluginError, match=r"plugin 'wrong'"):
        kehu_with(["wrong"], {"wrong": wrong})


def test_two_plugins_claiming_the_same_field_is_refused_naming_both():
    @strawberry.type
    class A:
        @strawberry.field
        def score(self) -> int:
            return 1

    @strawberry.type
    class B:
        @strawberry.field
        def score(self) -> int:
            return 2

    first = plugin(kehu_graphql=lambda graphql: graphql.extend("Customer", A))
    second = plugin(kehu_graphql=lambda graphql: graphql.extend("Customer", B))
    kehu = kehu_with(["first", "second"], {"first": first, "second": second})
    with pytest.raises(PluginError, match=r"plugins 'first' and 'second' both define the GraphQL field Customer.score"):
        _ = kehu.schema


def test_plugin_cannot_take_over_a_core_field():
    @strawberry.type
    class Evil:
        @strawberry.field
        def email(self) -> str:
            return "x"

    evil = plugin(kehu_graphql=lambda graphql: graphql.extend("Customer", Evil))
    with pytest.raises(PluginError, match=r"plugins 'core' and 'evil' both define the GraphQL field Customer.email"):
        _ = kehu_with(["evil"], {"evil": evil}).schema


def test_unknown_permission_granted_in_roles_is_refused():
    with pytest.raises(PluginError, match=r"roles.AGENT: unknown permission 'stickers.add'"):
        kehu_with([], roles={"AGENT": ["stickers.add"]})


def test_permission_granted_to_role_through_config():
    assert "customers.archive" not in kehu_with().permissions_for("AGENT")
    granted = kehu_with(["stickers"], STICKERS, roles={"AGENT": ["customers.archive"]})
    assert "customers.archive" in granted.permissions_for("AGENT")
    assert "stickers.add" in granted.permissions_for("AGENT")


def test_schema_of_one_build_does_not_leak_into_another():
    with_plugin = kehu_with(["stickers"], STICKERS)
    without = kehu_with([], STICKERS)
    first = sdl(with_plugin)
    assert "stickers" not in sdl(without)
    assert sdl(kehu_with(["stickers"], STICKERS)) == first


# --------------------------------------------------------------------------- over HTTP

CREATE = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } userErrors { code } } }"


def test_plugin_field_and_mutation_work_over_http(make_app):
    app = make_app(enabled=("stickers",), extra_plugins=STICKERS)
    cid = app.data(CREATE, {"i": {"name": "Ma Li"}}, as_="agent")["createCustomer"]["customer"]["id"]
    body = app.data(
        'mutation($c: ID!) { addSticker(input: {customerId: $c, label: "vip"}) { customer { stickers } userErrors { code } } }',
        {"c": cid},
        as_="agent",
    )
    assert body["addSticker"]["customer"]["stickers"] == ["vip"]
    assert app.data("{ stickerCount }", as_="agent")["stickerCount"] == 1
    # another agent's view: the customer does not exist for them, and neither do its stickers
    assert app.data("{ stickerCount }", as_="agent_south")["stickerCount"] == 0
    refused = app.data(
        'mutation($c: ID!) { addSticker(input: {customerId: $c, label: "x"}) { customer { id } userErrors { code field } } }',
        {"c": cid},
        as_="agent_south",
    )
    assert refused["addSticker"]["userErrors"] == [{"code": "NOT_FOUND", "field": "customerId"}]


def test_plugin_mutation_is_audited_once_and_rolled_back_on_user_error(make_app):
    app = make_app(enabled=("stickers",), extra_plugins=STICKERS, settings={"stickers": {"max_stickers": 1}})
    cid = app.data(CREATE, {"i": {"name": "Ma Li"}}, as_="agent")["createCustomer"]["customer"]["id"]
    add = "mutation($c: ID!, $l: String!) { addSticker(input: {customerId: $c, label: $l}) { userErrors { code } } }"
    assert app.data(add, {"c": cid, "l": "one"}, as_="agent")["addSticker"]["userErrors"] == []
    assert app.data(add, {"c": cid, "l": "two"}, as_="agent")["addSticker"]["userErrors"] == [{"code": "TOO_MANY"}]
    log = app.data('{ auditLog(filter: {operation: "addSticker"}) { totalCount } }', as_="admin")
    assert log["auditLog"]["totalCount"] == 1


def test_event_hook_runs_after_commit_and_sees_the_interaction(make_app):
    app = make_app(
        enabled=("stickers",), extra_plugins=STICKERS, settings={"stickers": {"sticker_on_purchase": "buyer"}}
    )
    cid = app.data(CREATE, {"i": {"name": "Ma Li"}}, as_="agent")["createCustomer"]["customer"]["id"]
    app.data(
        'mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: PURCHASE, amount: "10.00"}) { userErrors { code } } }',
        {"c": cid},
        as_="agent",
    )
    body = app.data("query($c: ID!) { customer(id: $c) { stickers } }", {"c": cid}, as_="agent")
    assert body["customer"]["stickers"] == ["buyer"]


def test_failing_event_handler_is_logged_with_plugin_name_and_undoes_nothing(make_app, caplog):
    def explode(interaction):
        raise RuntimeError("boom")

    calls = []

    async def record(interaction):
        calls.append(interaction.id)

    app = make_app(
        enabled=("broken", "recorder"),
        extra_plugins={
            "broken": plugin(kehu_interaction_logged=explode),
            "recorder": plugin(kehu_interaction_logged=record),
        },
    )
    cid = app.data(CREATE, {"i": {"name": "Ma Li"}}, as_="agent")["createCustomer"]["customer"]["id"]
    with caplog.at_level(logging.ERROR, logger="kehu.server.plugin_manager"):
        body = app.data(
            "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { interaction { id } userErrors { code } } }",
            {"c": cid},
            as_="agent",
        )
    assert body["logInteraction"]["interaction"]["id"]
    assert len(calls) == 1, "the other plugin's handler still ran"
    assert any("plugin 'broken'" in r.getMessage() for r in caplog.records)
    count = app.data("query($c: ID!) { customer(id: $c) { interactions { totalCount } } }", {"c": cid}, as_="agent")
    assert count["customer"]["interactions"]["totalCount"] == 1


def test_events_carry_actor_and_changes(make_app):
    seen = []

    def updated(customer, changes, actor):
        seen.append((customer.name, changes, actor.email))

    app = make_app(enabled=("spy",), extra_plugins={"spy": plugin(kehu_customer_updated=updated)})
    cid = app.data(CREATE, {"i": {"name": "Ma Li"}}, as_="agent")["createCustomer"]["customer"]["id"]
    app.data(
        'mutation($c: ID!) { updateCustomer(input: {id: $c, name: "Ma Lin"}) { userErrors { code } } }',
        {"c": cid},
        as_="agent",
    )
    assert seen == [("Ma Lin", {"name": ("Ma Li", "Ma Lin")}, "agent@example.com")]


def test_no_event_is_sent_for_a_write_that_failed(make_app):
    seen = []
    app = make_app(
        enabled=("spy",), extra_plugins={"spy": plugin(kehu_customer_created=lambda customer: seen.append(customer.id))}
    )
    body = app.data(CREATE, {"i": {"name": ""}}, as_="agent")
    assert body["createCustomer"]["userErrors"] == [{"code": "REQUIRED"}]
    assert seen == []


def test_enabling_a_plugin_later_keeps_existing_data(db_url):
    from kehu.testing import KehuHarness

    with KehuHarness(db_url) as before:
        before.data(CREATE, {"i": {"name": "Existing Customer"}}, as_="admin")
    with KehuHarness(db_url, enabled=("stickers",), extra_plugins=STICKERS, seed_accounts=False) as after:
        token = after.run(_token_for_admin)
        body = after.data("{ customers { totalCount edges { node { name stickers } } } }", token=token)
    assert body["customers"]["totalCount"] == 1
    assert body["customers"]["edges"][0]["node"] == {"name": "Existing Customer", "stickers": []}


async def _token_for_admin():
    from kehu.credentials import issue_token
    from kehu.models import AccountOwner, TokenKind

    owner = await AccountOwner.get(email="admin@example.com")
    token, _ = await issue_token(owner, TokenKind.SESSION, None)
    return token


def test_read_only_role_cannot_be_granted_a_write_permission():
    with pytest.raises(
        PluginError, match=r"roles.ANALYST: 'stickers.add' changes data and ANALYST is a read-only role"
    ):
        kehu_with(["stickers"], STICKERS, roles={"ANALYST": ["stickers.add"]})


def test_read_permission_can_be_held_by_read_only_roles():
    report = plugin(kehu_permissions=lambda: [Permission("report.read", "Read the report", ("ANALYST",), read=True)])
    kehu = kehu_with(["report"], {"report": report})
    assert "report.read" in kehu.permissions_for("ANALYST")


def test_a_plugin_given_as_an_object_may_name_core_types_below_its_roots(tmp_path):
    # The sample plugin's hooks in a plain object, not a module: its mutation's
    # payload names "Customer" by string, one level below the registered root.
    # A fresh interpreter, because the first build rebinds the plugin's classes in
    # place, so in this process an earlier test may have done it already.
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import types, sample_plugin
from kehu.testing import KehuHarness
hooks = {{n: getattr(sample_plugin, n) for n in dir(sample_plugin) if n.startswith("kehu_")}}
plugin = types.SimpleNamespace(**hooks)
with KehuHarness("sqlite://{tmp_path / "kehu.db"}", enabled=("stickers",), extra_plugins={{"stickers": plugin}}) as app:
    print(app.kehu.schema.as_str())
"""
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", code], cwd=tests, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "customer: Customer" in done.stdout.split("type AddStickerPayload")[1].split("}")[0]
