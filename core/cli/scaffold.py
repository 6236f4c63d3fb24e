"""``kehu new-plugin NAME [--purpose TEXT] [--entity NAME]``: a working, installable
plugin to start from.

The generated package follows the built-in plugins' layout (``__init__.py`` with
the hookimpls, ``models.py``, ``service.py``, ``graphql.py``, ``settings.py``,
``cli.py``, ``migrations/``) and is a starting point for the purpose given: one
table of records per customer (the *entity*: ``deals`` keeps ``Deal`` rows; name
it with ``--entity``), a ``Node`` type, a root connection, a batched connection
on ``Customer``, mutations with ``userErrors`` and a money input, two
permissions, a live event, an event reaction, settings and a command. Its tests
use the ``kehu.testing`` pytest fixtures — including counting SQL statements,
running the plugin's command and granting a role a permission — and pass straight
after generation (once the package is installed: the tests enable the plugin by
its entry-point name, as plugins.toml would). docs/plugins.md quotes it.

The templates are the files under ``kehu/cli/plugin_template/`` (package data),
laid out as the generated package is, each named with a ``.tmpl`` suffix. Their
text and paths are plain text with ``{{placeholders}}``: ``name`` (the plugin
name, also its Tortoise app label and permission prefix), ``Name`` (PascalCase),
``package`` (``kehu_NAME``), ``dist`` (``kehu-NAME``), ``purpose``, the entity's
names (``entity``, ``entities``, ``Entity``, ``Entities``, ``entity_camel``,
``entities_camel``, ``entity_words``, ``entities_words``, ``Entities_words``),
``kehu_version``, ``api`` and ``api_next`` (the plugin-API range).
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


def entity_of(name: str) -> str:
    """The records a plugin keeps, by default: ``deals`` -> ``deal``,
    ``pipeline`` -> ``pipeline_item``."""
    if name.endswith("s") and not name.endswith("ss") and len(name) > 3:
        return name[:-1]
    return f"{name}_item"


def clean_purpose(purpose: str | None, entities_words: str) -> str:
    """One line, no quotes that would end a Python or TOML string, no final period."""
    text = " ".join((purpose or "").split()).replace('"', "'").replace("\\", "/").rstrip(".")
    if not text:
        text = f"{entities_words} of customers"
    if len(text) > 120:
        raise ConfigError(f"--purpose: at most 120 characters (this is {len(text)})")
    return text[:1].upper() + text[1:]


def names(name: str, purpose: str | None = None, entity: str | None = None) -> dict[str, str]:
    def pascal(text: str) -> str:
        return "".join(p[:1].upper() + p[1:] for p in text.split("_"))

    entity = entity or entity_of(name)
    if not NAME_RE.match(entity) or keyword.iskeyword(entity):
        raise ConfigError(f"--entity '{entity}': use lower-case letters, digits and '_' (e.g. 'deal')")
    entities = f"{entity}s"
    Entity = pascal(entity)
    entities_words = entities.replace("_", " ")
    clean = clean_purpose(purpose, entities_words)
    return {
        "name": name,
        "Name": pascal(name),
        "camel": pascal(name)[:1].lower() + pascal(name)[1:],
        "package": f"kehu_{name}",
        "dist": f"kehu-{name.replace('_', '-')}",
        "purpose": clean,
        "purpose_lower": clean[:1].lower() + clean[1:],
        "entity": entity,
        "entities": entities,
        "Entity": Entity,
        "Entities": pascal(entities),
        "entity_camel": Entity[:1].lower() + Entity[1:],
        "entities_camel": pascal(entities)[:1].lower() + pascal(entities)[1:],
        "entity_words": entity.replace("_", " "),
        "entities_words": entities_words,
        "Entities_words": entities_words[:1].upper() + entities_words[1:],
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


def files(name: str, purpose: str | None = None, entity: str | None = None) -> dict[str, str]:
    """Relative path -> content of every file of the generated package."""
    values = names(name, purpose, entity)
    return {render(path, values): render(text, values) for path, text in sorted(_templates())}


def create_plugin(
    name: str, directory: Path | str = ".", *, purpose: str | None = None, entity: str | None = None
) -> Path:
    """Write ``kehu-NAME/`` under ``directory``; returns its path."""
    check_name(name)
    target = Path(directory) / names(name)["dist"]
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another name or --directory")
    for relative, content in files(name, purpose, entity).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return target
