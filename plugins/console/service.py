"""The console's GraphQL operations: one document per file in ``operations/``.

A file whose first line is ``# requires: <plugin>[, <plugin>…]`` is offered only
when those plugins are enabled (the document would not validate otherwise). The
browser gets the list from ``/console/operations.json`` and sends each by its
SHA-256 — the same hash under which ``kehu_trusted_documents`` registers it.
"""

from __future__ import annotations

import functools
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


@functools.cache
def all_operations() -> dict[str, Operation]:
    out = {}
    for path in sorted(DIRECTORY.glob("*.graphql")):
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0] if text else ""
        requires = first.split(":", 1)[1] if first.startswith("# requires:") else ""
        out[path.stem] = Operation(path.stem, text, tuple(p.strip() for p in requires.split(",") if p.strip()))
    return out


def available_operations(kehu: Kehu) -> dict[str, Operation]:
    return {name: op for name, op in all_operations().items() if all(kehu.is_enabled(plugin) for plugin in op.requires)}
