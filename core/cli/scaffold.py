"""``kehu new-plugin NAME``: a working, installable plugin to start from.

The generated package follows the built-in plugins' layout (``__init__.py`` with
the hookimpls, ``models.py``, ``service.py``, ``graphql.py``, ``settings.py``,
``migrations/``) and does one small real thing — notes on customers — so that
every kind of hook has an example: a model and its initial migration, a field on
``Customer``, a query, a mutation with ``userErrors``, an event reaction, a
permission and settings. Its tests use the ``kehu.testing`` pytest fixtures and
pass straight after generation (once the package is installed: the tests enable
the plugin by its entry-point name, as plugins.toml would).

The templates are the files under ``kehu/cli/plugin_template/`` (package data),
laid out as the generated package is, each named with a ``.tmpl`` suffix. Their
text and paths are plain text with ``{{placeholders}}``: ``name`` (the plugin
name, also its Tortoise app label and permission prefix), ``Name`` (PascalCase,
for GraphQL type names), ``camel`` (camelCase, for GraphQL field names in tests),
``package`` (``kehu_NAME``), ``dist`` (``kehu-NAME``), ``kehu_version``, ``api``
and ``api_next`` (the plugin-API range).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from .. import PLUGIN_API_VERSION, __version__
from ..errors import ConfigError

#: The template files, package data of kehu.cli (pyproject.toml [tool.setuptools.package-data]).
TEMPLATES = "plugin_template"

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED = frozenset({"core", "kehu", "test", "tests"})


def check_name(name: str) -> None:
    """A plugin name is a lower-case Python identifier, and not taken by the core or
    a built-in plugin (it becomes the Tortoise app label and permission prefix)."""
    from ..server.plugin_manager import BUILTIN_PLUGINS

    if not NAME_RE.match(name) or keyword.iskeyword(name) or name.endswith("_"):
        raise ConfigError(
            f"'{name}' is not a valid plugin name: use lower-case letters, digits and '_', "
            "starting with a letter (e.g. 'followups')"
        )
    if name in BUILTIN_PLUGINS or name in RESERVED:
        raise ConfigError(f"'{name}' is the name of a built-in plugin or of the core; choose another")


def names(name: str) -> dict[str, str]:
    parts = name.split("_")
    pascal = "".join(p[:1].upper() + p[1:] for p in parts)
    return {
        "name": name,
        "Name": pascal,
        "camel": pascal[:1].lower() + pascal[1:],
        "package": f"kehu_{name}",
        "dist": f"kehu-{name.replace('_', '-')}",
        "kehu_version": __version__,
        "api_next": str(PLUGIN_API_VERSION + 1),
        "api": str(PLUGIN_API_VERSION),
    }


def render(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def _templates() -> Iterator[tuple[str, str]]:
    """``(relative path, text)`` of every file under ``plugin_template/``, the path
    without its ``.tmpl`` suffix (which keeps linters, type checkers and the
    package scan away from templates that are not yet Python)."""
    stack = [("", resources.files(__package__) / TEMPLATES)]
    while stack:
        prefix, folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                stack.append((f"{prefix}{entry.name}/", entry))
            elif entry.name.endswith(".tmpl"):
                yield prefix + entry.name.removesuffix(".tmpl"), entry.read_text(encoding="utf-8")


def files(name: str) -> dict[str, str]:
    """Relative path -> content of every file of the generated package."""
    values = names(name)
    return {render(path, values): render(text, values) for path, text in sorted(_templates())}


def create_plugin(name: str, directory: Path | str = ".") -> Path:
    """Write ``kehu-NAME/`` under ``directory``; returns its path."""
    check_name(name)
    target = Path(directory) / names(name)["dist"]
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another name or --directory")
    for relative, content in files(name).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return target
