"""The fixtures (kehu_app, kehu_client, kehu_make_app, kehu_clock, kehu_events)
come from kehu's pytest plugin, installed with kehu. Here: which plugins to enable."""

import pytest


@pytest.fixture
def kehu_plugins():
    # The entry-point name, as in plugins.toml: the package must be installed.
    return ["followups"]


@pytest.fixture
def kehu_settings():
    return {"followups": {"default_interval_days": 30, "due_within_days": 7}}
