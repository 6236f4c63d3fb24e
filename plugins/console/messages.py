"""The console's message catalogues: its own (``messages/``) and the entries other
plugins ship for their panels through ``kehu_console_messages``, merged once at
start-up and served per language at ``/console/messages/<language>.json``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kehu.errors import PluginError
from kehu.i18n import DEFAULT_LANGUAGE, LANGUAGES, Catalogues, missing_keys, read_catalogues

if TYPE_CHECKING:
    from kehu import Kehu

log = logging.getLogger(__name__)

DIRECTORY = Path(__file__).parent / "messages"


def console_catalogues(kehu: Kehu) -> Catalogues:
    """Every language's full catalogue; a key one language lacks is filled from English."""
    merged = read_catalogues(DIRECTORY)
    owner = dict.fromkeys(merged[DEFAULT_LANGUAGE], "console")
    for plugin, contributed in kehu.plugins.each("kehu_console_messages"):
        contributed = contributed or {}
        for language in contributed:
            if language not in LANGUAGES:
                raise PluginError(
                    f"plugin '{plugin}': kehu_console_messages: unknown language '{language}' "
                    f"(kehu speaks {', '.join(LANGUAGES)})"
                )
        keys = set().union(*(set(entries) for entries in contributed.values())) if contributed else set()
        for key in sorted(keys):
            if not key.startswith(f"{plugin}."):
                raise PluginError(f"plugin '{plugin}': console message '{key}' must start with '{plugin}.'")
            if key in owner:
                raise PluginError(f"plugins '{owner[key]}' and '{plugin}' both define console message '{key}'")
            owner[key] = plugin
        for language, lacking in missing_keys({lang: contributed.get(lang, {}) for lang in LANGUAGES}).items():
            log.warning(
                "plugin '%s': %d console message(s) missing in %s, e.g. %s", plugin, len(lacking), language, lacking[0]
            )
        for language in LANGUAGES:
            merged[language].update(contributed.get(language, {}))
    english = merged[DEFAULT_LANGUAGE]
    return {language: {**english, **entries} for language, entries in merged.items()}
