"""The `kehu` command, run as a user would run it."""

import os
import subprocess
import sys

import pytest


def kehu(*args, cwd, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "KEHU_CONFIG"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "kehu.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def project(tmp_path, db_url):
    (tmp_path / "plugins.toml").write_text(f'[kehu]\ndatabase_url = "{db_url}"\n\n[plugins]\nenabled = []\n')
    return tmp_path


def write_config(project, text):
    (project / "plugins.toml").write_text(text)


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_bogus_plugin_stops_serve_with_one_line(project, db_url):
    write_config(project, f'[kehu]\ndatabase_url = "{db_url}"\n[plugins]\nenabled = ["bogus"]\n')
    result = kehu("serve", cwd=project)
    assert result.returncode == 2
    assert "unknown plugin 'bogus'" in one_error_line(result)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("[kehu]\ndatabase_url = 5\n", "kehu.database_url"),
        ('[kehu]\ndatabse_url = "x"\n', "kehu.databse_url: unknown setting"),
        ('[plugins]\nenabled = "all"\n', "plugins.enabled: must be a list"),
        ("[auth]\nmax_failed_logins = 0\n", "auth.max_failed_logins"),
        ("[roles]\nBOSS = []\n", "roles.BOSS: unknown role"),
        ("not toml at all [", "not valid TOML"),
        ('[kehu]\ndatabase_url = "mysql://x"\n', "unsupported database"),
    ],
)
def test_configuration_mistakes_print_one_line_and_exit_2(project, text, expected):
    write_config(project, text)
    result = kehu("plugins", cwd=project)
    assert result.returncode == 2
    assert expected in one_error_line(result)


def test_serve_refuses_an_unmigrated_database(project):
    result = kehu("serve", "--port", "0", cwd=project)
    assert result.returncode == 2
    assert "run `kehu migrate`" in one_error_line(result)


def test_init_non_interactive_then_login_works(project, db_url):
    os.remove(project / "plugins.toml")
    result = kehu(
        "init",
        "--database-url",
        db_url,
        "--admin-email",
        "boss@example.com",
        "--admin-password",
        "a-long-password",
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert "created admin boss@example.com" in result.stdout
    assert (project / "plugins.toml").exists()
    again = kehu(
        "init", cwd=project, env={"KEHU_ADMIN_EMAIL": "x@example.com", "KEHU_ADMIN_PASSWORD": "another-password"}
    )
    assert again.returncode == 0
    assert "exists" in again.stdout
    migrate = kehu("migrate", cwd=project)
    assert migrate.returncode == 0 and "up to date" in migrate.stdout


def test_init_without_credentials_and_no_terminal_fails_clearly(project, db_url):
    result = kehu("init", "--force", "--database-url", db_url, cwd=project)
    assert result.returncode == 2
    assert "KEHU_ADMIN_EMAIL" in one_error_line(result)


def test_schema_is_byte_identical_across_runs(project):
    first = kehu("schema", cwd=project)
    second = kehu("schema", cwd=project)
    assert first.returncode == 0
    assert first.stdout == second.stdout
    assert "type Customer implements Node" in first.stdout


def test_config_option_and_environment_variable(project, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[plugins]\nenabled = ["nope"]\n')
    assert "unknown plugin 'nope'" in kehu("--config", str(other), "plugins", cwd=project).stderr
    assert "unknown plugin 'nope'" in kehu("plugins", cwd=project, env={"KEHU_CONFIG": str(other)}).stderr
    missing = kehu("--config", str(tmp_path / "missing.toml"), "plugins", cwd=project)
    assert "configuration file not found" in one_error_line(missing)


def test_plugins_lists_state(project):
    result = kehu("plugins", cwd=project)
    assert result.returncode == 0
    assert result.stdout.splitlines()[0].split()[:4] == ["NAME", "VERSION", "SOURCE", "STATE"]


def test_demo_refuses_a_database_with_real_accounts_and_serve_warns_about_demo_passwords(project, db_url):
    from serving import Server

    assert (
        kehu(
            "init", "--admin-email", "boss@example.com", "--admin-password", "a-long-admin-passphrase", cwd=project
        ).returncode
        == 0
    )
    refused = kehu("demo", "--customers", "5", cwd=project)
    assert refused.returncode == 2
    assert "already holds 1 account(s)" in one_error_line(refused) and "--force" in refused.stderr
    forced = kehu("demo", "--customers", "5", "--force", cwd=project)
    assert forced.returncode == 0, forced.stderr
    with Server(project / "plugins.toml") as server:
        log = server.output()
    assert "WARNING: demo accounts can sign in with their PUBLIC passwords" in log
    assert "admin@demo.kehu" in log


def test_serve_does_not_warn_once_the_demo_passwords_are_changed(project, db_url):
    from serving import Server

    assert kehu("demo", "--customers", "5", cwd=project).returncode == 0
    with Server(project / "plugins.toml") as server:
        assert "PUBLIC passwords" in server.output()
        for role in ("admin", "manager", "agent", "analyst"):
            token = server.login(f"{role}@demo.kehu", f"kehu-demo-{role}")
            status, body, _ = server.gql(
                'mutation($c: String!) { changePassword(input: {currentPassword: $c, newPassword: "a-private-long-passphrase"}) { ok } }',
                {"c": f"kehu-demo-{role}"},
                token=token,
            )
            assert body["data"]["changePassword"]["ok"], body
    with Server(project / "plugins.toml") as server:
        assert "PUBLIC passwords" not in server.output()
