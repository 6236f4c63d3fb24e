"""Third-party plugins: the scaffold, the kehu.testing pytest plugin, the example
plugin outside the package, `kehu plugins` / `kehu plugins uninstall`, and
start-up checks — all from a plugin author's side.

"Installed" here means what pip leaves behind for importlib.metadata: a
``*.dist-info`` folder with the ``kehu.plugins`` entry point on ``sys.path``
(written by ``fake_install``), so the tests need neither network nor a build.
The real ``pip install`` of the example and of a scaffolded plugin runs in .ci/run.
"""

import datetime as dt
import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_docs import public_modules

from kehu.errors import ConfigError, PluginError
from kehu.testing import KehuHarness

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "kehu-followups"


def fake_install(site: Path, dist: str, entry_points: dict[str, str], version: str = "0.1.0") -> Path:
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[kehu.plugins]\n{lines}")
    return site


def run(args, *, cwd, paths=(), env=None, timeout=300):
    """Run ``python args…`` with ``paths`` importable (as if pip-installed)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("KEHU_CONFIG", "PYTHONPATH")}
    full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def kehu_cli(*args, cwd, paths=()):
    return run(["-m", "kehu.cli", *args], cwd=cwd, paths=paths)


def failures(result) -> str:
    """The failing tests' summary of a pytest run in a subprocess, for assertion messages."""
    lines = result.stdout.splitlines()
    wanted = [line for line in lines if line.startswith(("FAILED", "ERROR", "E  ", "_____"))]
    return "\n".join(wanted[:80]) + "\n" + result.stdout[-1500:] + result.stderr[-1500:]


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def write_config(folder: Path, db_url: str, enabled=()):
    names = ", ".join(f'"{n}"' for n in enabled)
    (folder / "plugins.toml").write_text(f'[kehu]\ndatabase_url = "{db_url}"\n\n[plugins]\nenabled = [{names}]\n')


@pytest.fixture
def followups_module(monkeypatch):
    """The example plugin, importable without installing it."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import kehu_followups

    return kehu_followups


@pytest.fixture
def followups_installed(tmp_path):
    """PYTHONPATH entries under which the example plugin is installed."""
    return [fake_install(tmp_path / "site", "kehu-followups", {"followups": "kehu_followups"}), EXAMPLE]


# --------------------------------------------------------------------------- kehu new-plugin


def test_new_plugin_writes_an_installable_package_with_the_standard_layout(tmp_path):
    result = kehu_cli(
        "new-plugin", "call_notes", "--purpose", "Notes taken during calls", "--directory", str(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    target = tmp_path / "kehu-call-notes"
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "README.md",
        "kehu_call_notes/__init__.py",
        "kehu_call_notes/cli.py",
        "kehu_call_notes/graphql.py",
        "kehu_call_notes/migrations/0001_initial.py",
        "kehu_call_notes/migrations/__init__.py",
        "kehu_call_notes/models.py",
        "kehu_call_notes/service.py",
        "kehu_call_notes/settings.py",
        "pyproject.toml",
        "tests/conftest.py",
        "tests/test_call_notes.py",
    ]
    import tomllib

    project = tomllib.loads((target / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["kehu.plugins"] == {"call_notes": "kehu_call_notes"}
    assert any(dep.startswith("kehu") for dep in project["project"]["dependencies"])
    assert "kehu_call_notes.migrations" in project["tool"]["setuptools"]["packages"]
    migration = (target / "kehu_call_notes" / "migrations" / "0001_initial.py").read_text()
    assert "dependencies = [('core', '0001_initial')]" in migration
    assert "'table': 'call_notes_call_note', 'app': 'call_notes'" in migration
    assert project["project"]["description"] == "A kehu plugin: Notes taken during calls"
    assert '"description": "Notes taken during calls"' in (target / "kehu_call_notes" / "__init__.py").read_text()
    assert "wrote" in result.stdout and "pip install" in result.stdout


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Notes", "not a valid plugin name"),
        ("9lives", "not a valid plugin name"),
        ("my-plugin", "not a valid plugin name"),
        ("class", "not a valid plugin name"),
        ("loyalty", "built-in plugin"),
        ("core", "built-in plugin or of the core"),
    ],
)
def test_new_plugin_refuses_a_bad_name_with_one_line(tmp_path, name, expected):
    result = kehu_cli("new-plugin", name, "--directory", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert expected in one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_never_overwrites_a_folder(tmp_path):
    assert kehu_cli("new-plugin", "notes", cwd=tmp_path).returncode == 0
    again = kehu_cli("new-plugin", "notes", cwd=tmp_path)
    assert again.returncode == 2
    assert "exists already" in one_error_line(again)


def test_generated_plugin_passes_its_own_tests_and_its_migration_matches_its_models(tmp_path):
    kehu_cli("new-plugin", "notes", "--purpose", "Notes on customers", "--directory", str(tmp_path), cwd=tmp_path)
    target = tmp_path / "kehu-notes"
    paths = [fake_install(tmp_path / "site", "kehu-notes", {"notes": "kehu_notes"}), target]

    tests = run(["-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=target, paths=paths)
    assert tests.returncode == 0, failures(tests)
    assert " passed" in tests.stdout and "failed" not in tests.stdout

    # The hand-written initial migration is exactly what makemigrations would write.
    write_config(tmp_path, f"sqlite://{tmp_path / 'mm.db'}", enabled=["notes"])
    check = kehu_cli("makemigrations", "notes", cwd=tmp_path, paths=paths)
    assert check.returncode == 0, check.stderr
    assert "No changes detected" in check.stdout
    assert sorted(p.name for p in (target / "kehu_notes" / "migrations").glob("0*.py")) == ["0001_initial.py"]


# --------------------------------------------------------------------------- the kehu.testing pytest plugin


def test_kehu_testing_is_registered_through_pytests_entry_point(request):
    targets = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert targets.get("kehu") == "kehu.testing.plugin"
    assert request.config.pluginmanager.hasplugin("kehu")


def test_kehu_app_fixture_enables_the_chosen_plugins(kehu_make_app, followups_module):
    app = kehu_make_app(plugins={"followups": followups_module}, settings={"followups": {"due_within_days": 3}})
    assert app.kehu.is_enabled("followups")
    assert app.kehu.settings_for("followups").due_within_days == 3
    assert "followUpPlan: FollowUpPlan" in app.kehu.schema.as_str()


def test_kehu_client_signs_in_as_an_account_or_a_role(kehu_client):
    assert kehu_client("agent_south").data("{ me { email team } }")["me"] == {
        "email": "agent_south@example.com",
        "team": "south",
    }
    assert kehu_client("MANAGER").data("{ me { role } }")["me"]["role"] == "MANAGER"
    assert kehu_client("analyst").owner.email == "analyst@example.com"
    anonymous = kehu_client(None).gql("{ me { email } }")
    assert anonymous.get("errors") or anonymous["data"]["me"] is None
    with pytest.raises(ValueError, match="no test account 'boss'"):
        kehu_client("boss")


def test_kehu_events_records_every_event_with_its_arguments(kehu_client, kehu_events):
    agent = kehu_client("agent")
    cid = agent.data('mutation { createCustomer(input: {name: "Ma Li"}) { customer { id } } }')["createCustomer"][
        "customer"
    ]["id"]
    agent.data(
        'mutation($c: ID!) { updateCustomer(input: {id: $c, name: "Ma Lin"}) { userErrors { code } } }', {"c": cid}
    )
    agent.data(
        "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }", {"c": cid}
    )
    agent.data('mutation { createCustomer(input: {name: ""}) { userErrors { code } } }')  # refused: no event
    assert kehu_events.names == ["customer_created", "customer_updated", "interaction_logged"]
    updated = kehu_events.last("kehu_customer_updated")
    assert updated["changes"] == {"name": ("Ma Li", "Ma Lin")}
    assert updated["actor"].email == "agent@example.com"
    assert kehu_events.of("interaction_logged")[0]["interaction"].kind == "CALL"
    kehu_events.clear()
    assert len(kehu_events) == 0


def test_kehu_clock_is_the_apps_clock(kehu_app, kehu_clock):
    assert kehu_app.kehu.clock is kehu_clock
    start = kehu_clock.now()
    kehu_clock.advance(days=2)
    assert kehu_app.kehu.clock.now() - start == dt.timedelta(days=2)


def test_kehu_make_app_reopens_a_database_with_other_plugins(kehu_make_app, followups_module):
    first = kehu_make_app()
    first.data('mutation { createCustomer(input: {name: "Kept"}) { customer { id } } }', as_="admin")
    kehu_make_app.close(first)
    second = kehu_make_app(plugins={"followups": followups_module})
    body = second.data("{ customers { totalCount edges { node { followUpPlan { intervalDays } } } } }", as_="admin")
    assert body["customers"]["totalCount"] == 1
    assert body["customers"]["edges"][0]["node"]["followUpPlan"] is None


# --------------------------------------------------------------------------- the example plugin


SET_PLAN = """mutation($c: ID!, $days: Int) {
  setFollowUpPlan(input: {customerId: $c, intervalDays: $days}) { plan { nextDueAt status } userErrors { field code } }
}"""


def test_example_plugin_works_through_the_public_api(db_url, followups_module):
    with KehuHarness(db_url, enabled=("followups",), extra_plugins={"followups": followups_module}) as app:
        cid = app.data('mutation { createCustomer(input: {name: "Ma Li"}) { customer { id } } }', as_="agent")[
            "createCustomer"
        ]["customer"]["id"]
        plan = app.data(SET_PLAN, {"c": cid, "days": 7}, as_="agent")["setFollowUpPlan"]
        assert plan["userErrors"] == [] and plan["plan"]["nextDueAt"].startswith("2026-01-08T09:00")
        app.clock.advance(days=9)
        due = app.data("{ followUpsDue { owner { email } overdue { daysOverdue } } }", as_="manager")["followUpsDue"]
        assert due == [{"owner": {"email": "agent@example.com"}, "overdue": [{"daysOverdue": 2}]}]
        app.data(
            "mutation($c: ID!) { logInteraction(input: {customerId: $c, kind: CALL}) { userErrors { code } } }",
            {"c": cid},
            as_="agent",
        )
        after = app.data(
            "query($c: ID!) { customer(id: $c) { followUpPlan { nextDueAt status } } }", {"c": cid}, as_="agent"
        )
        assert after["customer"]["followUpPlan"] == {
            "nextDueAt": "2026-01-17T09:00:00+00:00",
            "status": "DUE",
        }  # within 7 days


def test_example_plugin_imports_only_kehus_public_api():
    allowed = public_modules()  # docs/plugins.md, "Public modules"
    for source in (EXAMPLE / "kehu_followups").rglob("*.py"):
        for line in source.read_text().splitlines():
            words = line.split()
            if (
                words[:1] in (["from"], ["import"])
                and words[1].startswith("kehu")
                and not words[1].startswith("kehu_followups")
            ):
                assert words[1] in allowed, f"{source.name}: {line.strip()}"


def test_disabling_the_example_plugin_keeps_its_data(db_url, followups_module):
    plugin = {"followups": followups_module}
    with KehuHarness(db_url, enabled=("followups",), extra_plugins=plugin) as app:
        cid = app.data('mutation { createCustomer(input: {name: "Kept"}) { customer { id } } }', as_="agent")[
            "createCustomer"
        ]["customer"]["id"]
        app.data(SET_PLAN, {"c": cid, "days": 12}, as_="agent")
    with KehuHarness(db_url, extra_plugins=plugin, seed_accounts=False) as off:
        assert "followUpPlan" not in off.kehu.schema.as_str()
        assert off.run(_count_rows, "followups_plan") == 1  # the table and its row are still there
    with KehuHarness(db_url, enabled=("followups",), extra_plugins=plugin, seed_accounts=False) as on:
        token = on.run(_token, "agent@example.com")
        body = on.data("query($c: ID!) { customer(id: $c) { followUpPlan { nextDueAt } } }", {"c": cid}, token=token)
        assert body["customer"]["followUpPlan"]["nextDueAt"].startswith("2026-01-13T09:00")


def test_example_plugins_own_test_suite_passes_when_installed(tmp_path, followups_installed):
    result = run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")], cwd=EXAMPLE, paths=followups_installed
    )
    assert result.returncode == 0, failures(result)
    assert "failed" not in result.stdout


async def _count_rows(table):
    from tortoise import connections

    _, rows = await connections.get("default").execute_query(f'SELECT COUNT(*) AS n FROM "{table}"')
    return rows[0]["n"] if not isinstance(rows[0], (tuple, list)) else rows[0][0]


async def _token(email):
    from kehu.credentials import issue_token
    from kehu.models import AccountOwner, TokenKind

    token, _ = await issue_token(await AccountOwner.get(email=email), TokenKind.SESSION, None)
    return token


# --------------------------------------------------------------------------- `kehu plugins` and start-up checks


def test_kehu_plugins_shows_an_installed_plugins_version_source_state_and_hooks(tmp_path, db_url, followups_installed):
    write_config(tmp_path, db_url, enabled=["followups"])
    result = kehu_cli("plugins", cwd=tmp_path, paths=followups_installed)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: re.split(r"\s{2,}", line.strip(), maxsplit=4) for line in result.stdout.splitlines()[1:]}
    name, version, source, state, hooks = rows["followups"]
    assert (version, source, state) == ("0.1.0", "entry point", "enabled")
    assert "interaction_logged" in hooks and "graphql" in hooks and "models" in hooks
    assert rows["loyalty"][2:4] == ["built-in", "installed"]
    write_config(tmp_path, db_url)
    disabled = kehu_cli("plugins", cwd=tmp_path, paths=followups_installed)
    assert "installed" in next(line for line in disabled.stdout.splitlines() if line.startswith("followups"))


def _broken_plugin(tmp_path, name, body):
    package = tmp_path / "src" / f"kehu_{name}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("from kehu import hookimpl\n\n" + textwrap.dedent(body))
    return [fake_install(tmp_path / "site", f"kehu-{name}", {name: f"kehu_{name}"}), tmp_path / "src"]


@pytest.mark.parametrize(
    "body, expected",
    [
        (
            '@hookimpl\ndef kehu_plugin_info():\n    return {"api": ">=2,<3"}\n',
            "plugin 'future': supports kehu plugin API >=2,<3, this kehu provides 1",
        ),
        (
            "@hookimpl\ndef kehu_interaction_loged(interaction):\n    pass\n",
            "plugin 'future': unknown hook 'kehu_interaction_loged'",
        ),
        ("raise RuntimeError('no network')\n", "plugin 'future': failed to import: no network"),
    ],
)
def test_an_installed_plugin_that_cannot_work_stops_start_up_with_one_line(tmp_path, db_url, body, expected):
    paths = _broken_plugin(tmp_path, "future", body)
    write_config(tmp_path, db_url, enabled=["future"])
    for command in (["plugins"], ["serve", "--port", "0"], ["migrate"]):
        result = kehu_cli(*command, cwd=tmp_path, paths=paths)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        line = one_error_line(result)
        assert line.startswith("kehu: error: plugin 'future'"), line
        assert expected in line, line


# --------------------------------------------------------------------------- kehu plugins uninstall


def test_uninstall_shows_what_it_would_drop_and_drops_only_with_yes(
    tmp_path, db_url, followups_module, followups_installed
):
    plugin = {"followups": followups_module}
    with KehuHarness(db_url, enabled=("followups",), extra_plugins=plugin) as app:
        for name in ("A", "B"):
            cid = app.data(
                "mutation($n: String!) { createCustomer(input: {name: $n}) { customer { id } } }",
                {"n": name},
                as_="agent",
            )["createCustomer"]["customer"]["id"]
            app.data(SET_PLAN, {"c": cid, "days": 5}, as_="agent")

    write_config(tmp_path, db_url, enabled=["followups"])
    enabled = kehu_cli("plugins", "uninstall", "followups", cwd=tmp_path, paths=followups_installed)
    assert enabled.returncode == 2
    assert "remove it from plugins.enabled first" in one_error_line(enabled)

    write_config(tmp_path, db_url)
    dry = kehu_cli("plugins", "uninstall", "followups", cwd=tmp_path, paths=followups_installed)
    assert dry.returncode == 1, dry.stderr
    assert "table followups_plan: 2 row(s)" in dry.stdout
    assert "followups.0001_initial" not in dry.stdout and "0001_initial" in dry.stdout
    assert "nothing dropped" in dry.stdout and "--yes" in dry.stdout

    with KehuHarness(db_url, seed_accounts=False) as still:
        assert still.run(_count_rows, "followups_plan") == 2

    really = kehu_cli("plugins", "uninstall", "followups", "--yes", cwd=tmp_path, paths=followups_installed)
    assert really.returncode == 0, really.stderr
    assert "dropped 1 table(s) of plugin 'followups'" in really.stdout
    again = kehu_cli("plugins", "uninstall", "followups", cwd=tmp_path, paths=followups_installed)
    assert again.returncode == 0 and "nothing to drop" in again.stdout

    # Enabling it again re-creates the table, empty; the core's data is untouched.
    with KehuHarness(db_url, enabled=("followups",), extra_plugins=plugin, seed_accounts=False) as back:
        assert back.run(_count_rows, "followups_plan") == 0
        assert back.run(_count_rows, "kehu_customer") == 2


def test_uninstall_of_a_plugin_that_is_not_installed_is_one_line(tmp_path, db_url):
    write_config(tmp_path, db_url)
    result = kehu_cli("plugins", "uninstall", "nosuch", cwd=tmp_path)
    assert result.returncode == 2
    assert "plugin 'nosuch' is not installed" in one_error_line(result)


def test_scaffold_names_are_validated_in_process():
    from kehu.cli.scaffold import check_name

    check_name("followups")
    for bad in ("", "_x", "x_", "a" * 41, "surveys"):
        with pytest.raises(ConfigError):
            check_name(bad)
    assert issubclass(PluginError, ConfigError)
