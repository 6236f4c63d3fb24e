"""kehu (客户): a plugin-based CRM framework with a GraphQL API.

Plugin authors need only ``kehu.hookimpl`` from here; the hook specs and their
documentation are in ``kehu.hookspecs``.
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"

# The version of the plugin API (hook specs, GraphQLRegistry, writes). Plugins
# declare the range they support in kehu_plugin_info()["api"].
PLUGIN_API_VERSION = 1

__all__ = ["hookimpl", "__version__", "PLUGIN_API_VERSION"]
