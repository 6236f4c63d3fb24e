"""Hooks the console defines for other plugins."""

from __future__ import annotations

from kehu.hookspecs import hookspec


@hookspec
def kehu_console_messages() -> dict[str, dict[str, str]]:
    """Texts the console shows for your plugin, in each language kehu speaks.

    Return ``{"en": {key: text}, "zh-CN": {key: text}}``; every key starts with
    your plugin's name and a dot (``"loyalty.tier.gold"``). Texts may hold
    ``{placeholders}``. Keep the files as ``messages/en.json`` and
    ``messages/zh-CN.json`` in your package and return
    ``kehu.i18n.read_catalogues(Path(__file__).parent / "messages")``.

    The console merges them into its own catalogue, served per language at
    ``/console/messages/<language>.json``: its panels for your plugin, and any
    page of yours that loads that file, find them there by key. Name enum values
    ``"<plugin>.<enumName>.<VALUE>"`` (e.g. ``"complaints.status.RESOLVED"``), as
    the built-in plugins do. A key missing in one language falls back to English
    and is logged at start-up; a key outside your namespace, or one claimed
    twice, stops start-up.

    Mark the implementation ``@hookimpl(optionalhook=True)``: the hook exists
    only while the console is enabled. Called once at start-up.
    """
