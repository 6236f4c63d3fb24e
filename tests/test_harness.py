"""The test harness itself (kehu.testing): every app starts on a database of its
own — a copy of a migrated template when the database is fresh — and apps share a
schema only when nothing that shapes it differs. Runs on PostgreSQL too
(``CREATE DATABASE … TEMPLATE``) with KEHU_TEST_POSTGRES."""

import json
import subprocess
import sys

import pytest

from kehu import hookimpl
from kehu.models import AccountOwner, Customer
from kehu.testing import ACCOUNTS, TEST_HASH_COST, KehuHarness, database_url, templates

CREATE = "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id name } userErrors { code } } }"
NAMES = "{ customers { totalCount edges { node { name } } } }"


def folder(tmp_path, name):
    (tmp_path / name).mkdir()
    return tmp_path / name


def customers(app):
    return app.data(NAMES, as_="admin")["customers"]


def test_each_fresh_database_starts_from_a_clean_copy(tmp_path):
    with database_url(folder(tmp_path, "one")) as first, KehuHarness(first, enabled=("loyalty",)) as app:
        app.data(CREATE, {"n": "Written in the first test"}, as_="agent")
        assert customers(app)["totalCount"] == 1
        first_accounts = {name: owner.id for name, owner in app.accounts.items()}
    with database_url(folder(tmp_path, "two")) as second, KehuHarness(second, enabled=("loyalty",)) as app:
        assert customers(app) == {"totalCount": 0, "edges": []}
        assert {name: owner.id for name, owner in app.accounts.items()} == first_accounts
        assert app.run(lambda: AccountOwner.all().count()) == len(ACCOUNTS)
        for name in ACCOUNTS:
            assert app.data("{ me { email } }", as_=name)["me"]["email"] == f"{name}@example.com"
        # Migrated as far as the plugin needs: its tables are there.
        assert app.data("{ rewards(first: 5) { totalCount } }", as_="admin")["rewards"]["totalCount"] == 0


def test_one_template_per_plugin_set_however_many_databases(tmp_path):
    for name in ("a", "b", "c"):
        with database_url(folder(tmp_path, name)) as url, KehuHarness(url, enabled=("surveys", "loyalty")) as app:
            assert customers(app)["totalCount"] == 0
    made = [json.loads(key)[1] for key in templates.templates._made]
    assert [set(apps) for apps in made].count({"core", "loyalty", "surveys"}) == 1


def test_the_processes_of_a_session_migrate_each_plugin_set_once(tmp_path, monkeypatch):
    """Two Templates stand for two xdist workers sharing the session's directory."""
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv(templates.SHARED_TEMPLATES, str(shared))
    migrated = []
    migrate = templates._migrate

    async def counted(kehu, template):
        migrated.append(sorted(kehu.apps))
        await migrate(kehu, template)

    monkeypatch.setattr(templates, "_migrate", counted)
    for worker, plugins in (("gw0", ("surveys",)), ("gw1", ("surveys",)), ("gw1", ("loyalty",))):
        monkeypatch.setattr(templates, "templates", templates.Templates())
        with database_url(folder(tmp_path, worker + plugins[0])) as url:
            if not url.startswith("sqlite://"):
                pytest.skip("PostgreSQL's templates are the process's own")
            with KehuHarness(url, enabled=plugins) as app:
                assert customers(app)["totalCount"] == 0
    assert migrated == [["core", "surveys"], ["core", "loyalty"]]
    assert len(list(shared.glob("*.db"))) == 2


def test_a_database_already_used_is_migrated_and_keeps_its_data(db_url):
    with KehuHarness(db_url) as core_only:
        core_only.data(CREATE, {"n": "Before loyalty"}, as_="admin")
    with KehuHarness(db_url, enabled=("loyalty",), seed_accounts=False) as app:
        names = app.run(lambda: Customer.all().values_list("name", flat=True))
        assert names == ["Before loyalty"]
        assert app.run(lambda: AccountOwner.all().count()) == len(ACCOUNTS)


def test_a_file_written_before_the_first_app_is_not_replaced(tmp_path):
    with database_url(tmp_path) as url:
        if not url.startswith("sqlite://"):
            pytest.skip("a file on SQLite")
        with KehuHarness(url) as app:
            app.data(CREATE, {"n": "Kept"}, as_="admin")
        # A new database_url() for the same file: it exists, so it is not fresh.
        with database_url(tmp_path) as again, KehuHarness(again, seed_accounts=False) as app:
            assert app.run(lambda: Customer.all().values_list("name", flat=True)) == ["Kept"]


def test_apps_with_the_same_plugins_and_settings_share_one_schema(make_app, tmp_path):
    settings = {"loyalty": {"schedule_hours": 0}}
    schema = make_app(enabled=("loyalty",), settings=settings).kehu.schema
    make_app.close_all()
    with database_url(folder(tmp_path, "a")) as url, KehuHarness(url, enabled=("loyalty",), settings=settings) as again:
        assert again.kehu.schema is schema
    with database_url(folder(tmp_path, "b")) as url, KehuHarness(url, enabled=("loyalty",)) as other_settings:
        assert other_settings.kehu.schema is not schema
    with database_url(folder(tmp_path, "c")) as url, KehuHarness(url, enabled=("surveys",)) as other_plugins:
        assert other_plugins.kehu.schema is not schema
        assert "rewards" not in other_plugins.kehu.schema.as_str()


class Badges:
    """A test plugin with a GraphQL field of its own."""

    @hookimpl
    def kehu_graphql(self, graphql):
        import strawberry

        @strawberry.type
        class BadgeQuery:
            @strawberry.field
            def badge_count(self) -> int:
                return 3

        graphql.query(BadgeQuery)


class Listener:
    """A test plugin without schema hooks."""

    @hookimpl
    def kehu_customer_created(self, customer):
        pass


def test_a_plugin_made_in_a_test_gets_its_own_schema_unless_it_leaves_the_schema_alone(tmp_path):
    made = iter(range(100))

    def schema_with(name, plugin):
        with (
            database_url(folder(tmp_path, f"{name}-{next(made)}")) as url,
            KehuHarness(url, enabled=(name,), extra_plugins={name: plugin}) as app,
        ):
            if isinstance(plugin, Badges):
                assert app.data("{ badgeCount }", as_="agent") == {"badgeCount": 3}
            return app.kehu.schema

    assert schema_with("badges", Badges()) is not schema_with("badges", Badges())
    assert schema_with("listener", Listener()) is schema_with("listener", Listener())


def test_a_schema_with_field_policy_enforcers_is_never_shared(make_app, tmp_path):
    first = make_app(enabled=("masking",))
    make_app.close_all()
    with database_url(folder(tmp_path, "a")) as url, KehuHarness(url, enabled=("masking",)) as second:
        assert second.kehu.schema is not first.kehu.schema


def test_a_shared_schema_still_answers_after_others_were_built(tmp_path):
    def loyalty_app(where):
        return KehuHarness(where, enabled=("loyalty",), settings={"loyalty": {"schedule_hours": 0}})

    with database_url(folder(tmp_path, "a")) as url, loyalty_app(url) as app:
        schema = app.kehu.schema
    for i, plugins in enumerate([("surveys",), ("complaints", "segmentation"), ()]):
        with database_url(folder(tmp_path, f"o{i}")) as url, KehuHarness(url, enabled=plugins) as other:
            customers(other)
    with database_url(folder(tmp_path, "b")) as url, loyalty_app(url) as app:
        assert app.kehu.schema is schema
        created = app.data(CREATE, {"n": "Loyal"}, as_="agent")["createCustomer"]["customer"]
        body = app.data(
            "query($id: ID!) { customer(id: $id) { name loyalty { balance tier { name } } } }",
            {"id": created["id"]},
            as_="agent",
        )
        assert body["customer"]["name"] == "Loyal"
        assert body["customer"]["loyalty"]["balance"] == 0


def test_caches_can_be_turned_off(tmp_path, monkeypatch):
    with database_url(folder(tmp_path, "a")) as url, KehuHarness(url) as app:
        schema = app.kehu.schema
    monkeypatch.setenv("KEHU_TEST_CACHES", "off")
    with database_url(folder(tmp_path, "b")) as url:
        assert templates.claim_fresh(url) is None
        with KehuHarness(url) as app:
            assert app.kehu.schema is not schema
            assert customers(app)["totalCount"] == 0


def test_test_apps_hash_passwords_cheaply_and_the_server_at_argon2s_cost(app):
    owner = app.accounts["agent"]
    cost = f"m={TEST_HASH_COST['memory_cost']},t={TEST_HASH_COST['time_cost']},p={TEST_HASH_COST['parallelism']}"
    assert owner.password_hash.startswith(f"$argon2id$v=19${cost}$")
    login = app.data(
        'mutation { login(input: {email: "agent@example.com", password: "correct-horse-battery"}) { token } }'
    )
    assert login["login"]["token"]
    # Outside a test app (the server, the CLI) kehu keeps argon2-cffi's default cost.
    script = "from kehu.credentials import hash_password; print(hash_password('correct-horse-battery'))"
    hashed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
