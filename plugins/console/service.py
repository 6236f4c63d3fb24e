"""The console's GraphQL operations: one document per file in ``operations/``.

A file whose first line is ``# requires: <plugin>[, <plugin>…]`` is offered only
when those plugins are enabled (the document would not validate otherwise).
Fragments shared by several operations live once in ``operations/fragments/``;
each operation's document is its file followed by the fragments it uses, so it
stays self-contained, and the directory passes project-wide validators (``kehu
schema --validate``, graphql-config), which refuse a fragment defined twice. The
browser gets the list from ``/console/operations.json`` and sends each by its
SHA-256 — the same hash under which ``kehu_trusted_documents`` registers it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kehu.ids import digest

if TYPE_CHECKING:
    from kehu import Kehu

DIRECTORY = Path(__file__).parent / "operations"


@dataclass(frozen=True)
class Operation:
    name: str
    text: str
    requires: tuple[str, ...] = ()

    @property
    def sha256(self) -> str:
        return digest(self.text)


def _requires(text: str) -> tuple[str, ...]:
    first = text.splitlines()[0] if text else ""
    requires = first.split(":", 1)[1] if first.startswith("# requires:") else ""
    return tuple(p.strip() for p in requires.split(",") if p.strip())


def _spreads(text: str) -> set[str]:
    return set(re.findall(r"\.\.\.\s*([_A-Za-z][_0-9A-Za-z]*)", text)) - {"on"}


@functools.cache
def all_operations() -> dict[str, Operation]:
    fragments = {}  # name -> text, one fragment per file
    for path in sorted((DIRECTORY / "fragments").glob("*.graphql")):
        body = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#"))
        fragments[path.stem] = body.strip() + "\n"
    out = {}
    for path in sorted(DIRECTORY.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        used, queue = set(), list(_spreads(text))
        while queue:
            name = queue.pop()
            if name in fragments and name not in used:
                used.add(name)
                queue += _spreads(fragments[name])
        text += "".join("\n" + fragments[name] for name in sorted(used))
        out[path.stem] = Operation(path.stem, text, _requires(text))
    return out


def available_operations(kehu: Kehu) -> dict[str, Operation]:
    return {name: op for name, op in all_operations().items() if all(kehu.is_enabled(plugin) for plugin in op.requires)}
