"""The per-request context: who is asking, and the request's DataLoaders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kehu.access import Viewer

from .loaders import Loaders

if TYPE_CHECKING:
    from kehu.server.runtime import Kehu


@dataclass
class Context:
    kehu: Kehu
    viewer: Viewer | None
    request: Any = None
    response: Any = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    client: str | None = None
    # graphql-transport-ws: the connection_init payload ({"authorization": "Bearer …"}).
    connection_params: dict[str, Any] | None = None
    # Plugins keep their own per-request loaders here, keyed by plugin name.
    plugin_loaders: dict[str, Any] = field(default_factory=dict)
    # Batch fields' prefetched values (kehu.schema.batch), filled by the executor.
    batch_results: dict[Any, Any] = field(default_factory=dict)

    @cached_property
    def loaders(self) -> Loaders:
        """Built lazily, once per request: never shared between viewers."""
        return Loaders(self.viewer)

    def loader(self, key: str, factory) -> Any:
        """A plugin's per-request loader: ``info.context.loader("loyalty.balance", make)``."""
        if key not in self.plugin_loaders:
            self.plugin_loaders[key] = factory()
        return self.plugin_loaders[key]
