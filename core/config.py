"""Reading and validating plugins.toml.

The file is small on purpose: ``[kehu]`` (server and database), ``[auth]``,
``[plugins]`` (what is enabled, and one section of settings per plugin) and
``[roles]`` (extra permissions granted to roles). Every mistake becomes a
``ConfigError`` whose message names the key, so the CLI can print one line.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticError

from .errors import ConfigError

DEFAULT_CONFIG_FILE = "plugins.toml"


class Strict(BaseModel):
    """The base of every section: unknown keys are refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Strict):
    """``[kehu]``: the database, GraphiQL, paging and the business calendar."""

    database_url: str = "sqlite://kehu.db"
    graphiql: bool = True
    anonymous_introspection: bool = False
    page_size_default: int = Field(20, ge=1, le=100)
    # Garbage collection tuned for a server (see core/app.py): on by default.
    tune_gc: bool = True
    # The business calendar (an IANA name such as "Asia/Shanghai"): where a day
    # begins and ends, and the zone of imported times written without an offset.
    timezone: str = "UTC"
    # Where a phone number written without a country code is (ISO 3166 code,
    # e.g. "CN", "GB"): "138 1234 5678" and "+86 138-1234-5678" are then one
    # number to duplicate checks and search. `kehu dedupe rekey` after a change.
    phone_region: str = "CN"

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        from .matching import phone_region_valid

        value = value.strip().upper()
        if not phone_region_valid(value):
            raise ValueError(f"'{value}' is not a region code the phone library knows (e.g. 'CN', 'GB', 'US')")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone name (e.g. 'Asia/Shanghai', 'UTC')") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AuthSettings(Strict):
    """``[auth]``: sign-in sessions and the throttling of failed sign-ins."""

    session_hours: float = Field(12, gt=0, le=24 * 90)
    max_failed_logins: int = Field(10, ge=1, le=1000)
    lockout_minutes: float = Field(15, gt=0, le=24 * 60)
    # Failed answers are held back once an account has this many recent failures:
    # failure_delay_seconds more for each further one, at most max_failure_delay_seconds.
    slow_after_failures: int = Field(3, ge=0, le=1000)
    failure_delay_seconds: float = Field(1, ge=0, le=60)
    max_failure_delay_seconds: float = Field(5, ge=0, le=60)
    # A live connection (WebSocket) is told at once when its session ends; it is
    # also read again from the database at least this often, whatever happens.
    socket_recheck_seconds: float = Field(60, ge=1, le=3600)


class LimitSettings(Strict):
    """Abuse limits; every rejection names the limit and by how much it was exceeded."""

    max_depth: int = Field(8, ge=2, le=50)
    max_aliases: int = Field(15, ge=0, le=1000)
    max_tokens: int = Field(1000, ge=50, le=100_000)
    # Checked before lexing: a huge document is refused in ~1 ms instead of being
    # scanned up to the token limit (~6 ms for 90 kB).
    max_document_chars: int = Field(20_000, ge=1_000, le=10_000_000)
    max_root_fields: int = Field(20, ge=1, le=200)
    max_nodes: int = Field(10_000, ge=100, le=1_000_000)
    max_body_bytes: int = Field(100_000, ge=1_000, le=50_000_000)
    request_timeout_seconds: float = Field(30, gt=0, le=600)
    # Cost points per minute, per API token / session and per anonymous client
    # address; a query costs 1, a mutation mutation_cost. 0 turns rate limiting off.
    rate_per_minute: int = Field(3000, ge=0, le=10_000_000)
    mutation_cost: int = Field(5, ge=1, le=1000)
    # What each item of a bulk mutation (logInteractions) adds to its call's cost.
    bulk_item_cost: int = Field(1, ge=0, le=1000)
    # Live connections (WebSockets) one account may hold open, per server process.
    max_sockets_per_user: int = Field(10, ge=1, le=10_000)


class CorsSettings(Strict):
    """Cross-origin access for browser apps on other origins; off unless origins are listed."""

    allow_origins: tuple[str, ...] = ()
    allow_credentials: bool = False
    # Request headers a browser app may send: Apollo Client's client-awareness
    # headers are among the defaults; "*" allows any.
    allow_headers: tuple[str, ...] = (
        "Authorization",
        "Content-Type",
        "Accept",
        "apollographql-client-name",
        "apollographql-client-version",
    )
    max_age: int = Field(600, ge=0, le=86_400)


class DocumentSettings(Strict):
    """Trusted documents (persisted operations): with ``trusted_only`` the server runs
    only operations registered with ``kehu documents add`` (by SHA-256)."""

    trusted_only: bool = False
    # Admins may still send any operation (GraphiQL, ad-hoc scripts).
    allow_admin_graphiql: bool = True


class EventSettings(Strict):
    """The outbox: how events reach plugins' handlers (kehu.server.outbox)."""

    # Deliver a write's events in the worker that made it, right after the commit and
    # before the response: the next request sees the handlers' effects. Off: only the
    # background delivery runs them (within poll_seconds).
    deliver_inline: bool = True
    # How often each worker looks for due retries, job runs and the events of a
    # worker that died; 0 turns background delivery off (tests drive it themselves).
    poll_seconds: float = Field(1, ge=0, le=3600)
    # A worker's claim on an event lasts this long: a worker killed while delivering
    # loses its events to the others after at most this (SQLite: at restart).
    lease_seconds: float = Field(60, gt=0, le=24 * 3600)
    batch_size: int = Field(100, ge=1, le=10_000)
    # Events delivered at once by one worker (handlers waiting on the network).
    concurrency: int = Field(8, ge=1, le=256)
    # The pause before each retry of a failing handler (about a day in all); after
    # the last one the event is FAILED: `kehu events failed`, `kehu events retry ID`.
    retry_seconds: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
    # Delivered events are kept this long for inspection, then deleted.
    keep_days: float = Field(7, ge=0, le=3650)


class MetricsSettings(Strict):
    """``/metrics`` in the Prometheus text format; off by default (it tells anyone who
    can read it how busy the business is, and which operations the clients run)."""

    enabled: bool = False
    # Scrapers send ``Authorization: Bearer <token>``, the token taken from this
    # environment variable (never from plugins.toml, which is often shared).
    token_env: str = "KEHU_METRICS_TOKEN"
    # Client addresses that may read it without a token (a scraper on the same host).
    allow_from: tuple[str, ...] = ()


class Config(Strict):
    """The validated content of plugins.toml."""

    kehu: ServerSettings = ServerSettings()
    auth: AuthSettings = AuthSettings()
    limits: LimitSettings = LimitSettings()
    cors: CorsSettings = CorsSettings()
    documents: DocumentSettings = DocumentSettings()
    events: EventSettings = EventSettings()
    metrics: MetricsSettings = MetricsSettings()
    enabled: tuple[str, ...] = ()
    plugin_settings: dict[str, dict[str, Any]] = {}
    role_grants: dict[str, tuple[str, ...]] = {}
    path: str | None = None

    def with_database(self, url: str) -> "Config":
        return self.model_copy(update={"kehu": self.kehu.model_copy(update={"database_url": url})})


def normalise_url(url: str) -> str:
    """``postgresql://`` spelled as Tortoise wants it, ``postgres://``."""
    if url.startswith("postgresql://"):
        return "postgres://" + url[len("postgresql://") :]
    return url


def is_sqlite(database_url: str) -> bool:
    """Whether ``database_url`` names an SQLite database."""
    return normalise_url(database_url).startswith("sqlite://")


def sqlite_file(database_url: str) -> str | None:
    """The file an SQLite ``database_url`` names, without its options; None for
    another database or an in-memory one."""
    url = normalise_url(database_url)
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite://") :].split("?", 1)[0]
    return None if path in ("", ":memory:") or path.startswith("file::memory:") else path


def format_pydantic_error(prefix: str, error: PydanticError) -> str:
    """One line for the first problem: ``plugins.loyalty.points_per_unit: must be > 0``."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    problem = first["msg"]
    if first["type"] == "extra_forbidden":
        problem = "unknown setting"
    elif first["type"] == "missing":
        problem = "required setting is missing"
    return f"{where}: {problem}"


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    """The configuration file: ``explicit``, else ``$KEHU_CONFIG``, else ``./plugins.toml``."""
    return Path(explicit or os.environ.get("KEHU_CONFIG") or DEFAULT_CONFIG_FILE)


def load_config(path: str | os.PathLike | None = None, *, required: bool = False) -> Config:
    """Read plugins.toml (or the file named), apply environment overrides, validate.

    A missing default file means "all defaults"; a missing file that was named
    explicitly is an error.
    """
    file = config_path(path)
    explicit = path is not None or "KEHU_CONFIG" in os.environ
    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    elif explicit or required:
        raise ConfigError(f"{file}: configuration file not found")
    else:
        raw = {}
    config = parse_config(raw)
    config = config.model_copy(update={"path": str(file) if file.exists() else None})
    if url := os.environ.get("KEHU_DATABASE_URL"):
        config = config.with_database(url)
    return config


def _section(raw: dict[str, Any], name: str, model: type[Strict]) -> Any:
    """Validate one fixed section of plugins.toml; errors name ``section.key``."""
    try:
        return model(**raw.get(name, {}))
    except PydanticError as exc:
        raise ConfigError(format_pydantic_error(name, exc)) from None
    except TypeError:
        raise ConfigError(f"{name}: must be a table") from None


def parse_config(raw: dict[str, Any]) -> Config:
    """Validate the parsed TOML document; plugin sections are validated later by
    each plugin's settings model, once the plugins are loaded."""
    raw = dict(raw)
    unknown = set(raw) - {"kehu", "auth", "limits", "cors", "documents", "events", "metrics", "plugins", "roles"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section in plugins.toml")
    plugins = raw.get("plugins", {})
    if not isinstance(plugins, dict):
        raise ConfigError("plugins: must be a table")
    plugins = dict(plugins)
    enabled = plugins.pop("enabled", [])
    if not isinstance(enabled, list) or not all(isinstance(n, str) for n in enabled):
        raise ConfigError("plugins.enabled: must be a list of plugin names")
    if len(set(enabled)) != len(enabled):
        dupe = next(n for n in enabled if enabled.count(n) > 1)
        raise ConfigError(f"plugins.enabled: '{dupe}' is listed twice")
    for name, section in plugins.items():
        if not isinstance(section, dict):
            raise ConfigError(f"plugins.{name}: must be a table of settings")
    roles = raw.get("roles", {})
    if not isinstance(roles, dict):
        raise ConfigError("roles: must be a table of role = [permissions]")
    grants: dict[str, tuple[str, ...]] = {}
    from .models import Role  # late: models import tortoise, config is imported early

    for role, perms in roles.items():
        if role not in Role.__members__:
            raise ConfigError(f"roles.{role}: unknown role (one of {', '.join(Role.__members__)})")
        if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
            raise ConfigError(f"roles.{role}: must be a list of permission names")
        grants[role] = tuple(perms)
    kehu = _section(raw, "kehu", ServerSettings)
    auth = _section(raw, "auth", AuthSettings)
    limits = _section(raw, "limits", LimitSettings)
    cors = _section(raw, "cors", CorsSettings)
    if "*" in cors.allow_origins and cors.allow_credentials:
        raise ConfigError("cors.allow_origins: '*' cannot be combined with allow_credentials = true")
    documents = _section(raw, "documents", DocumentSettings)
    events = _section(raw, "events", EventSettings)
    if any(seconds <= 0 for seconds in events.retry_seconds):
        raise ConfigError("events.retry_seconds: every pause must be more than 0 seconds")
    metrics = _section(raw, "metrics", MetricsSettings)
    return Config(
        kehu=kehu,
        auth=auth,
        limits=limits,
        cors=cors,
        documents=documents,
        events=events,
        metrics=metrics,
        enabled=tuple(enabled),
        plugin_settings=plugins,
        role_grants=grants,
    )
