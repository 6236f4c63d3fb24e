"""kehu (客户): a plugin-based CRM framework with a GraphQL API.

Plugin authors import ``kehu.hookimpl`` (the marker for hook implementations) and,
for type hints, ``kehu.Kehu`` (the application every hook receives as ``kehu``).
The modules a plugin may import are listed in docs/plugins.md ("Public modules");
everything else — ``kehu.server``, ``kehu.cli`` and names starting with ``_`` — is
internal and may change in any release.
"""

from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .server.runtime import Kehu

__version__ = "0.1.0"

# The version of the plugin API (hook specs, GraphQLRegistry, writes). Plugins
# declare the range they support in kehu_plugin_info()["api"].
PLUGIN_API_VERSION = 1

__all__ = ["Kehu", "hookimpl", "__version__", "PLUGIN_API_VERSION"]


def __getattr__(name: str) -> Any:
    # ``Kehu`` is imported on first use: importing ``kehu`` for ``hookimpl`` must not
    # pull in the server runtime (Starlette, the plugin manager, the database layer).
    if name == "Kehu":
        from .server.runtime import Kehu

        return Kehu
    raise AttributeError(f"module 'kehu' has no attribute {name!r}")
