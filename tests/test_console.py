"""The console plugin without a browser: its operations against the schema, its
message catalogues and the seam other plugins ship theirs through, the texts its
code asks for, and how people find it (``/``, the start-up banner). The browser
tests are in test_console_browser.py."""

import logging
import re
from pathlib import Path

import pytest
from graphql import parse, validate
from serving import Server, init, write_config

from kehu import hookimpl
from kehu.config import parse_config
from kehu.errors import PluginError
from kehu.i18n import LANGUAGES
from kehu.plugins.console.service import all_operations, available_operations
from kehu.schema.compat import graphql_schema
from kehu.server.runtime import Kehu

BUILT_IN = ("segmentation", "loyalty", "complaints", "surveys", "masking")
STATIC = Path(__file__).resolve().parent.parent / "plugins" / "console" / "static"


def kehu_with(tmp_path, *enabled, extra=None):
    config = parse_config(
        {"kehu": {"database_url": f"sqlite://{tmp_path}/k.db"}, "plugins": {"enabled": list(enabled)}}
    )
    return Kehu(config, extra_plugins=extra)


# --------------------------------------------------------------------------- operations


@pytest.mark.parametrize("plugins", [(), *((p,) for p in BUILT_IN), BUILT_IN], ids=lambda p: "+".join(p) or "core")
def test_every_offered_operation_validates_against_the_schema(tmp_path, plugins):
    app = kehu_with(tmp_path, *plugins, "console")
    offered = available_operations(app)
    for name, operation in offered.items():
        assert validate(graphql_schema(app.schema), parse(operation.text)) == [], name
    assert set(offered) < set(all_operations()) or plugins == BUILT_IN


def test_every_operation_is_offered_when_every_plugin_is_enabled(tmp_path):
    app = kehu_with(tmp_path, *BUILT_IN, "console")
    assert set(available_operations(app)) == set(all_operations())


# --------------------------------------------------------------------------- catalogues


@pytest.fixture
def console(make_app):
    return make_app(enabled=(*BUILT_IN, "console"))


def test_messages_are_served_per_language_with_the_plugins_entries(console):
    for language in LANGUAGES:
        response = console.client.get(f"/console/messages/{language}.json")
        assert response.status_code == 200
        texts = response.json()
        assert texts["nav.customers"] and texts["complaints.status.RESOLVED"] and texts["surveys.page.submit"]
    assert console.client.get("/console/messages/zh-CN.json").json()["complaints.status.RESOLVED"] == "已解决"
    assert console.client.get("/console/messages/fr.json").status_code == 404
    assert console.client.get("/console/operations.json").json()["languages"] == list(LANGUAGES)


def test_the_manifest_tells_the_console_the_business_time_zone(make_app):
    # Dashboards ask for and label months of this calendar (test_console_calendar.py).
    app = make_app(enabled=("console",), config={"kehu": {"timezone": "Asia/Shanghai"}})
    assert app.client.get("/console/operations.json").json()["timezone"] == "Asia/Shanghai"


def test_disabled_plugins_ship_no_texts(make_app):
    app = make_app(enabled=("complaints", "console"))
    texts = app.client.get("/console/messages/en.json").json()
    assert "complaints.status.RESOLVED" in texts
    assert not any(key.startswith(("loyalty.", "surveys.", "segmentation.")) for key in texts)


def _plugin(messages):
    class Plugin:
        @staticmethod
        @hookimpl
        def kehu_console_messages():
            return messages

    return Plugin


def test_a_third_party_plugin_ships_texts_for_its_panel(tmp_path, caplog):
    from kehu.plugins.console.messages import console_catalogues

    plugin = _plugin(
        {"en": {"notes.panel.title": "Notes", "notes.only.en": "x"}, "zh-CN": {"notes.panel.title": "备注"}}
    )
    app = kehu_with(tmp_path, "console", "notes", extra={"notes": plugin})
    with caplog.at_level(logging.WARNING):
        catalogues = console_catalogues(app)
    assert catalogues["zh-CN"]["notes.panel.title"] == "备注"
    assert catalogues["zh-CN"]["notes.only.en"] == "x", "a missing text falls back to English"
    assert "plugin 'notes': 1 console message(s) missing in zh-CN" in caplog.text


@pytest.mark.parametrize(
    "messages, error",
    [
        ({"en": {"nav.customers": "Clients"}}, "console message 'nav.customers' must start with 'notes.'"),
        ({"fr": {"notes.x": "Notes"}}, "unknown language 'fr'"),
    ],
)
def test_a_plugin_may_not_claim_texts_outside_its_namespace(tmp_path, messages, error):
    from kehu.plugins.console.messages import console_catalogues

    app = kehu_with(tmp_path, "console", "notes", extra={"notes": _plugin(messages)})
    with pytest.raises(PluginError, match=error):
        console_catalogues(app)


def test_the_console_hook_is_optional_for_plugins_when_the_console_is_disabled(tmp_path):
    # The built-ins implement kehu_console_messages; without the console it has no spec.
    app = kehu_with(tmp_path, *BUILT_IN)
    assert not app.is_enabled("console")


def _literal_keys(source: str) -> set[str]:
    """String literals in the first argument of every ``t(...)`` call."""
    keys = set()
    for match in re.finditer(r"\bt\(", source):
        depth, i = 1, match.end()
        start = i
        while i < len(source) and depth:
            ch = source[i]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "," and depth == 1:
                break
            i += 1
        keys.update(re.findall(r'"([A-Za-z][\w.]*)"', source[start:i]))
    return keys


def test_every_text_the_console_asks_for_is_in_both_catalogues(console):
    keys = set()
    for path in STATIC.glob("*.js"):
        keys |= _literal_keys(path.read_text(encoding="utf-8"))
    assert len(keys) > 200
    for language in LANGUAGES:
        texts = console.client.get(f"/console/messages/{language}.json").json()
        missing = sorted(k for k in keys if k not in texts and f"{k}.other" not in texts)
        assert missing == [], f"{language}: {missing}"


def test_every_enum_value_the_console_shows_has_a_text(console):
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    block = source[source.index("export const ENUM_KEYS") :]
    block = block[: block.index("};")]
    prefixes = dict(re.findall(r'"(\w+)": "([\w.]+)"', block))
    schema = graphql_schema(console.kehu.schema)
    for language in LANGUAGES:
        texts = console.client.get(f"/console/messages/{language}.json").json()
        for enum_name, prefix in prefixes.items():
            values = schema.type_map[enum_name].values
            missing = [v for v in values if f"{prefix}.{v}" not in texts]
            assert missing == [], f"{language}: {enum_name} {missing}"


# --------------------------------------------------------------------------- finding it


def test_root_redirects_to_the_console_when_it_is_enabled(make_app):
    app = make_app(enabled=("console",))
    response = app.client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/console/"


def test_root_is_not_found_without_the_console(app):
    assert app.client.get("/", follow_redirects=False).status_code == 404


def test_the_start_up_banner_prints_the_console_url(tmp_path, db_url):
    config = write_config(tmp_path, db_url, enabled=("console",))
    init(config)
    with Server(config) as server:
        banner = server.output()
    assert f"console: http://localhost:{server.port}/console" in banner
