"""The ``kehu`` command and the tooling behind its sub-commands: import and
export, the demo data set, backups, the plugin scaffold, uninstalling a plugin's
tables and generating the plugin guide's hook reference."""

from .main import main

__all__ = ["main"]
