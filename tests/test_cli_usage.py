"""The `kehu` command as a newcomer meets it: help on every option, `--config` where
they put it, `kehu init` from an empty directory to a server the admin signs in to."""

import argparse
import os
import subprocess
import sys

import pytest
from serving import Server

from kehu.cli.main import build_parser
from kehu.config import parse_config
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.server.runtime import Kehu


def kehu(*args, cwd, env=None):
    full_env = {k: v for k, v in os.environ.items() if k not in ("KEHU_CONFIG", "KEHU_DATABASE_URL")} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "kehu.cli", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def one_error_line(result):
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "None" not in result.stderr, result.stderr
    return lines[0]


def every_parser(parser, path=("kehu",)):
    """``(command path, parser)`` for the parser and every sub-command under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, (*path, name))


def test_every_command_and_option_has_help_text_with_every_plugin_enabled():
    app = Kehu(parse_config({"plugins": {"enabled": list(BUILTIN_PLUGINS)}}))
    parser = build_parser(app)
    missing = []
    commands = 0
    for path, command in every_parser(parser):
        commands += 1
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [f"{' '.join(path)} {name}" for name in action.choices if name not in described]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert commands > 40  # the core's commands and the built-in plugins'
    assert missing == []


@pytest.mark.parametrize(
    "what, expected",
    [
        ("customers", ["external_id", "owner_email", "tags", ".xlsx", ".jsonl", "GB18030", "--on-conflict"]),
        ("interactions", ["customer_external_id", "occurred_at", "amount", "PURCHASE", ".xlsx", ".jsonl"]),
    ],
)
def test_import_help_lists_the_columns_and_the_file_formats(tmp_path, what, expected):
    result = kehu("import", what, "--help", cwd=tmp_path)
    assert result.returncode == 0
    for text in expected:
        assert text in result.stdout, text


def test_config_is_accepted_before_and_after_the_command(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[plugins]\nenabled = ["nope"]\n')
    before = kehu("--config", str(other), "plugins", cwd=tmp_path)
    after = kehu("plugins", "--config", str(other), cwd=tmp_path)
    nested = kehu("events", "list", "--config", str(other), cwd=tmp_path)
    for result in (before, after, nested):
        assert result.returncode == 2
        assert "unknown plugin 'nope'" in one_error_line(result)


def test_a_plugins_command_takes_config_after_it_too(tmp_path, db_url):
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'[kehu]\ndatabase_url = "{db_url}"\n[plugins]\nenabled = ["loyalty"]\n')
    assert kehu("migrate", "--config", str(config), cwd=tmp_path).returncode == 0
    result = kehu("loyalty", "check", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "balance" in result.stdout


def test_init_with_plugins_migrates_before_they_start_and_its_admin_signs_in(tmp_path, db_url):
    plugins = "segmentation,loyalty,complaints,surveys,masking"
    result = kehu(
        "init",
        "--config",
        str(tmp_path / "kehu.toml"),
        "--database-url",
        db_url,
        "--plugins",
        plugins,
        "--admin-email",
        "boss@example.com",
        "--admin-password",
        "a-long-password",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert f"plugins enabled: {plugins.replace(',', ', ')}" in result.stdout
    assert "edit `enabled` under [plugins]" in result.stdout and "kehu migrate" in result.stdout
    assert "created admin boss@example.com" in result.stdout
    text = (tmp_path / "kehu.toml").read_text()
    assert 'enabled = ["segmentation", "loyalty", "complaints", "surveys", "masking"]' in text
    with Server(tmp_path / "kehu.toml") as server:
        token = server.login("boss@example.com", "a-long-password")
        _, body, _ = server.gql("{ me { email role } plugins { name enabled } }", token=token)
    assert body["data"]["me"] == {"email": "boss@example.com", "role": "ADMIN"}
    assert {p["name"] for p in body["data"]["plugins"] if p["enabled"]} == set(plugins.split(","))


def test_init_without_plugins_says_none_are_enabled_and_how_to_enable_them(tmp_path, db_url):
    result = kehu(
        "init",
        "--database-url",
        db_url,
        "--admin-email",
        "a@example.com",
        "--admin-password",
        "a-long-password",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "no plugins enabled (installed: " in result.stdout and "loyalty" in result.stdout
    assert "enabled = []" in (tmp_path / "plugins.toml").read_text()


def test_init_refuses_an_unknown_plugin_and_writes_nothing(tmp_path):
    result = kehu("init", "--plugins", "loyalty,bogus", cwd=tmp_path)
    assert result.returncode == 2
    assert "--plugins: unknown plugin 'bogus' (installed: " in one_error_line(result)
    assert not (tmp_path / "plugins.toml").exists()


def test_init_does_not_silently_ignore_plugins_that_differ_from_an_existing_file(tmp_path, db_url):
    (tmp_path / "plugins.toml").write_text(f'[kehu]\ndatabase_url = "{db_url}"\n[plugins]\nenabled = ["loyalty"]\n')
    result = kehu("init", "--plugins", "surveys", cwd=tmp_path)
    assert result.returncode == 2
    assert "enables loyalty; edit its [plugins] enabled list, or run again with --force" in one_error_line(result)


def test_init_names_the_option_of_a_bad_admin_password(tmp_path, db_url):
    result = kehu(
        "init", "--database-url", db_url, "--admin-email", "a@example.com", "--admin-password", "short", cwd=tmp_path
    )
    assert result.returncode == 2
    assert one_error_line(result) == "kehu: error: --admin-password: must be at least 10 characters"


def test_serve_refuses_several_workers_on_sqlite_with_one_line(tmp_path):
    (tmp_path / "plugins.toml").write_text('[kehu]\ndatabase_url = "sqlite://kehu.db"\n')
    result = kehu("serve", "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("kehu: error: --workers 2: SQLite is served by one process")
    assert "PostgreSQL" in line


def test_import_errors_about_a_whole_line_name_the_row_not_none(tmp_path, db_url):
    (tmp_path / "plugins.toml").write_text(f'[kehu]\ndatabase_url = "{db_url}"\n')
    assert kehu("migrate", cwd=tmp_path).returncode == 0
    (tmp_path / "c.csv").write_text("name,email\nA,a@example.com\nB,b@example.com,extra\n")
    result = kehu("import", "customers", "c.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert "line 3: row: has 3 values but the header has 2 columns [WRONG_COLUMN_COUNT]" in result.stderr
    assert "None" not in result.stdout + result.stderr
