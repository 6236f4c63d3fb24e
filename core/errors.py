"""kehu's error hierarchy.

Every error a user can cause carries a stable ``code``. In GraphQL mutations the
user-fixable ones (``ValidationError``, ``NotFound``) become ``userErrors``;
``PermissionDenied`` and ``NotAuthenticated`` become GraphQL errors with the code in
``extensions``; anything else is unexpected, logged in full and masked.
Configuration mistakes (``ConfigError``, ``PluginError``) stop start-up with one line.
"""


class KehuError(Exception):
    """Base class of every error kehu raises on purpose."""

    code = "KEHU_ERROR"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ConfigError(KehuError):
    """plugins.toml or the environment is wrong; start-up stops with one line."""

    code = "CONFIG_ERROR"


class PluginError(ConfigError):
    """A plugin cannot be loaded or contradicts another plugin."""

    code = "PLUGIN_ERROR"


class ValidationError(KehuError):
    """Input the user can fix: names the field and why it is wrong."""

    code = "INVALID"


class NotFound(KehuError):
    """The record does not exist — or the viewer may not see it (indistinguishable)."""

    code = "NOT_FOUND"


class PermissionDenied(KehuError):
    """The viewer's role does not allow the operation."""

    code = "FORBIDDEN"


class NotAuthenticated(PermissionDenied):
    """The operation needs a signed-in account owner or API token."""

    code = "UNAUTHENTICATED"


class Conflict(KehuError):
    """The request contradicts the current state (a duplicate, a stale value)."""

    code = "CONFLICT"


class MigrationsPending(ConfigError):
    """The database is behind the code; ``kehu migrate`` brings it up to date."""

    code = "MIGRATIONS_PENDING"
