"""Finding, validating and calling plugins.

Built-in plugins are found by short name, third-party ones through the
``kehu.plugins`` entry-point group; both are registered the same way. Only the
plugins that plugins.toml enables are registered at all, so a disabled plugin
contributes no tables, types or hooks. ``Hooks`` is the one place that knows how a
hook is called, awaited, and how its failures are handled.

Every hook runs in the order ``pm.hook.name(...)`` would run it (``call_order``):
implementations marked ``tryfirst`` first, then the others last-registered-first,
then those marked ``trylast``. kehu calls the implementations itself, one by one,
because pluggy neither awaits nor says which plugin a result came from.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypedDict

import pluggy
from pluggy import HookCaller, HookImpl
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from .. import PLUGIN_API_VERSION, hookspecs
from ..access import Permission, PermissionTable
from ..config import Config, format_pydantic_error
from ..errors import PluginError

if TYPE_CHECKING:
    from ..policies import FieldPolicy
    from .runtime import Kehu

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kehu.plugins"

# Short name -> module, in the fixed order they are registered: after the core,
# before third-party plugins (by name). pluggy calls hooks last-registered-first,
# so the order must not depend on plugins.toml.
BUILTIN_PLUGINS: dict[str, str] = {
    "segmentation": "kehu.plugins.segmentation",
    "loyalty": "kehu.plugins.loyalty",
    "complaints": "kehu.plugins.complaints",
    "surveys": "kehu.plugins.surveys",
    "masking": "kehu.plugins.masking",
    "console": "kehu.plugins.console",
    "webhooks": "kehu.plugins.webhooks",
    "notifications": "kehu.plugins.notifications",
}


class ModelsSpec(TypedDict, total=False):
    models: list[str]
    migrations: str


@dataclass
class PluginRecord:
    name: str
    module: Any
    source: str  # "core", "built-in" or "entry point"
    version: str
    info: dict[str, Any] = field(default_factory=dict)
    settings: BaseModel | None = None

    @property
    def hooks(self) -> list[str]:
        return sorted(
            name for name in dir(self.module) if name.startswith("kehu_") and callable(getattr(self.module, name, None))
        )


def builtin_available(name: str) -> bool:
    module = BUILTIN_PLUGINS.get(name)
    return module is not None and importlib.util.find_spec(module) is not None


def discover() -> dict[str, tuple[str, Callable[[], Any], str]]:
    """Every plugin that could be enabled: name -> (source, loader, version)."""
    found: dict[str, tuple[str, Callable[[], Any], str]] = {}
    from .. import __version__

    for name, module in BUILTIN_PLUGINS.items():
        if builtin_available(name):
            found[name] = ("built-in", functools.partial(importlib.import_module, module), __version__)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue  # a built-in name cannot be taken over by a third party
        version = ep.dist.version if ep.dist is not None else "?"
        found[ep.name] = ("entry point", ep.load, version)
    return found


def _version_ok(spec: str, version: int) -> bool:
    """A tiny range check for the integer plugin-API version: ``">=1,<2"``, ``"1"``."""
    for part in filter(None, (p.strip() for p in spec.split(","))):
        for op in (">=", "<=", "==", ">", "<", "="):
            if part.startswith(op):
                bound = part[len(op) :].strip()
                break
        else:
            op, bound = "==", part
        try:
            number = int(float(bound.split(".")[0]))
        except ValueError:
            raise PluginError(f"unreadable plugin API range '{spec}'") from None
        ok = {
            ">=": version >= number,
            "<=": version <= number,
            ">": version > number,
            "<": version < number,
            "==": version == number,
            "=": version == number,
        }[op]
        if not ok:
            return False
    return True


class PluginSet:
    """The registered plugins of one configuration, validated."""

    def __init__(self, config: Config, extra: dict[str, Any] | None = None):
        """``extra`` registers plugin objects by name without entry points (tests)."""
        self.config = config
        self.pm = pluggy.PluginManager("kehu")
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        from .. import __version__
        from . import corehooks

        self._register("core", corehooks, "core", __version__)
        available = discover()
        extra = extra or {}
        names = list(config.enabled)
        builtin_order = [n for n in BUILTIN_PLUGINS if n in names]
        others = sorted(n for n in names if n not in BUILTIN_PLUGINS)
        for name in builtin_order + others:
            if name in extra:
                self._register(name, extra[name], "test", "0")
            elif name in available:
                source, loader, version = available[name]
                try:
                    module = loader()
                except Exception as exc:  # a broken plugin names itself, never a traceback
                    raise PluginError(f"plugin '{name}': failed to import: {exc}") from None
                self._register(name, module, source, version)
            else:
                known = ", ".join(sorted(available)) or "none installed"
                raise PluginError(f"plugins.enabled: unknown plugin '{name}' (available: {known})")
        self._check_info()
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{self._name_of(exc.plugin)}': {_first_line(exc)}") from None
        self._load_settings()
        self.permissions = self._collect_permissions()
        self.permission_table = PermissionTable(self.permissions, config.role_grants)
        for role, name in self.permission_table.write_grants_to_read_only(config.role_grants):
            raise PluginError(f"roles.{role}: '{name}' changes data and {role} is a read-only role")
        self.hooks = Hooks(self)

    # -- registration -------------------------------------------------------

    def _register(self, name: str, module: Any, source: str, version: str) -> None:
        for attr in dir(module):
            opts = self.pm.parse_hookimpl_opts(module, attr)
            if opts and (opts.get("hookwrapper") or opts.get("wrapper")):
                raise PluginError(
                    f"plugin '{name}': {attr} is a hook wrapper; kehu calls each implementation itself"
                    " and supports none (use tryfirst/trylast to run before or after the others)"
                )
        try:
            self.pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{name}': {_first_line(exc)}") from None
        except ValueError as exc:
            raise PluginError(f"plugin '{name}': {exc}") from None
        self.records[name] = PluginRecord(name, module, source, version)

    def _check_info(self) -> None:
        enabled = set(self.records)
        for name, info in self.each("kehu_plugin_info"):
            info = dict(info or {})
            self.records[name].info = info
            api = info.get("api")
            if api is not None and not _version_ok(str(api), PLUGIN_API_VERSION):
                raise PluginError(
                    f"plugin '{name}': supports kehu plugin API {api}, this kehu provides {PLUGIN_API_VERSION}"
                )
            for required in info.get("requires", ()):
                if required not in enabled:
                    raise PluginError(f"plugin '{name}' requires plugin '{required}': add it to plugins.enabled")
            specs = info.get("hookspecs")
            if specs is not None:
                self._add_plugin_hookspecs(name, specs)

    def _name_of(self, plugin_object: Any) -> str:
        return self.pm.get_name(plugin_object) or repr(plugin_object)

    def _add_plugin_hookspecs(self, plugin: str, specs: Any) -> None:
        """A plugin may define hooks of its own (e.g. ``kehu_complaint_escalated``)
        for other plugins to implement; they follow the same rules as the core's."""
        if isinstance(specs, str):
            specs = importlib.import_module(specs)
        names = [n for n in dir(specs) if n.startswith("kehu_") and callable(getattr(specs, n))]
        for hook_name in names:
            if hasattr(hookspecs, hook_name) or (
                hasattr(self.pm.hook, hook_name) and getattr(self.pm.hook, hook_name).spec is not None
            ):
                raise PluginError(f"plugin '{plugin}': hook spec {hook_name} is already defined")
        try:
            self.pm.add_hookspecs(specs)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin '{self._name_of(exc.plugin)}': {_first_line(exc)}") from None

    def _load_settings(self) -> None:
        models = dict(self.each("kehu_settings_model"))
        for name in self.config.enabled:
            section = self.config.plugin_settings.get(name, {})
            model = models.get(name)
            if model is None:
                if section:
                    key = next(iter(section))
                    raise PluginError(f"plugins.{name}.{key}: plugin '{name}' takes no settings")
                continue
            try:
                self.records[name].settings = model(**section)
            except PydanticError as exc:
                raise PluginError(format_pydantic_error(f"plugins.{name}", exc)) from None

    def _collect_permissions(self) -> list[Permission]:
        permissions: dict[str, tuple[str, Permission]] = {}
        for plugin, declared in self.each("kehu_permissions"):
            for perm in declared or ():
                if plugin != "core" and not perm.name.startswith(f"{plugin}."):
                    raise PluginError(f"plugin '{plugin}': permission '{perm.name}' must start with '{plugin}.'")
                if perm.name in permissions:
                    one, other = self.in_registration_order(permissions[perm.name][0], plugin)
                    raise PluginError(f"plugins '{one}' and '{other}' both declare permission '{perm.name}'")
                permissions[perm.name] = (plugin, perm)
        for role, names in self.config.role_grants.items():
            for perm_name in names:
                if perm_name not in permissions:
                    raise PluginError(f"roles.{role}: unknown permission '{perm_name}' (is its plugin enabled?)")
        return [perm for _, perm in permissions.values()]

    # -- calling ---------------------------------------------------------------

    def call_order(self, hook_name: str) -> list[HookImpl]:
        """The implementations of a hook in the order ``pm.hook.<hook_name>(...)``
        calls them: ``tryfirst`` ones first, then the others last-registered-first,
        then ``trylast`` ones. pluggy keeps them in the reverse of that order
        (``get_hookimpls``) and walks the list backwards. Raises ``LookupError``
        for a hook with no spec: a misspelled name must not silently do nothing."""
        return list(reversed(self.caller(hook_name).get_hookimpls()))

    def caller(self, hook_name: str) -> HookCaller:
        """pluggy's caller of a hook that has a spec (the core's, or an enabled
        plugin's); ``LookupError`` otherwise. ``is_defined`` asks without raising."""
        caller = getattr(self.pm.hook, hook_name, None)
        if caller is None or caller.spec is None:
            raise LookupError(f"no hook spec named '{hook_name}' (misspelled, or defined by a plugin not enabled?)")
        return caller

    def is_defined(self, hook_name: str) -> bool:
        """Whether a hook has a spec. A hook defined by a plugin's own hook specs
        (``kehu_complaint_filed``) exists only while that plugin is enabled: code
        that calls another plugin's hook asks this first."""
        caller = getattr(self.pm.hook, hook_name, None)
        return caller is not None and caller.spec is not None

    def is_firstresult(self, hook_name: str) -> bool:
        spec = self.caller(hook_name).spec
        return spec is not None and bool(spec.opts.get("firstresult"))

    def each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a registration hook on each plugin, in pluggy's order, and return
        ``(plugin name, result)`` pairs in that order. Failures name the plugin.
        ``firstresult`` hooks go through ``first``."""
        if self.is_firstresult(hook_name):
            raise LookupError(f"{hook_name} is a first-result hook: call it with first()")
        results = []
        for impl in self.call_order(hook_name):
            results.append((impl.plugin_name, self._call(impl, hook_name, kwargs)))
        return results

    def first(self, hook_name: str, **kwargs: Any) -> tuple[str, Any] | None:
        """Call a ``firstresult`` registration hook in pluggy's order until one
        returns a value other than None: ``(plugin name, value)``, or None."""
        if not self.is_firstresult(hook_name):
            raise LookupError(f"{hook_name} is not a first-result hook: call it with each()")
        for impl in self.call_order(hook_name):
            result = self._call(impl, hook_name, kwargs)
            if result is not None:
                return impl.plugin_name, result
        return None

    @staticmethod
    def _call(impl: HookImpl, hook_name: str, kwargs: dict[str, Any]) -> Any:
        try:
            return impl.function(**arguments_for(impl, kwargs))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin '{impl.plugin_name}': {hook_name} failed: {exc}") from exc

    def in_registration_order(self, *names: str) -> list[str]:
        """``names`` sorted as the plugins were registered (core, built-ins in
        their fixed order, third-party by name): how kehu lists what several
        plugins contributed, whatever order their hooks ran in."""
        rank = {name: i for i, name in enumerate(self.records)}
        return sorted(names, key=lambda n: rank.get(n, len(rank)))

    def models_config(self) -> dict[str, dict[str, Any]]:
        """Tortoise ``apps`` config: one app per plugin with models, in
        registration order (the core's first)."""
        apps = {}
        results = dict(self.each("kehu_models"))
        for name in self.in_registration_order(*results):
            spec = results[name]
            if not spec:
                continue
            if "models" not in spec or "migrations" not in spec:
                raise PluginError(f"plugin '{name}': kehu_models must return 'models' and 'migrations'")
            apps[name] = {
                "models": list(spec["models"]),
                "migrations": spec["migrations"],
                "default_connection": "default",
            }
        return apps

    def field_policies(self) -> list[FieldPolicy]:
        policies: dict[str, tuple[str, FieldPolicy]] = {}
        for plugin, declared in self.each("kehu_field_policies"):
            for policy in declared or ():
                if policy.key in policies:
                    one, other = self.in_registration_order(policies[policy.key][0], plugin)
                    raise PluginError(f"plugins '{one}' and '{other}' both declare a policy for {policy.key}")
                policies[policy.key] = (plugin, policy)
        return [policy for _, policy in policies.values()]

    def settings_for(self, name: str) -> BaseModel | None:
        record = self.records.get(name)
        return record.settings if record else None

    def is_enabled(self, name: str) -> bool:
        return name in self.records


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


async def await_me_maybe(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def arguments_for(impl: HookImpl, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments that ``impl`` accepts (pluggy passes by name, and an
    implementation takes only the parameters it needs)."""
    return {k: v for k, v in kwargs.items() if k in impl.argnames or k in impl.kwargnames}


class Hooks:
    """The typed facade the core calls hooks through. Every call runs the
    implementations in pluggy's order (``PluginSet.call_order``) and raises
    ``LookupError`` for a hook that has no spec."""

    def __init__(self, plugins: PluginSet):
        self.plugins = plugins
        self.kehu: Kehu | None = None

    def check(self, hook_name: str) -> None:
        """Raise ``LookupError`` unless the hook has a spec (``emit`` checks before
        the write commits, so a misspelled event fails the write, not silently)."""
        self.plugins.caller(hook_name)

    async def dispatch_event(
        self, hook_name: str, *, plugins: Collection[str] | None = None, **kwargs: Any
    ) -> dict[str, Exception]:
        """Call an event hook on every plugin (or on ``plugins`` only) in pluggy's
        order, awaiting async ones. A failing handler is logged with its plugin's name
        and does not stop the others; the failures are returned by plugin name (the
        outbox retries those). Raises ``LookupError`` for a hook with no spec. Each
        handler gets the arguments ``kehu.field_guard.event_arguments`` allows its
        plugin."""
        from ..events import GiveUp, RetryLater
        from ..writes import AlreadyHandled

        failures: dict[str, Exception] = {}
        impls = self.plugins.call_order(hook_name)
        kwargs.setdefault("kehu", self.kehu)
        guard = self.kehu.field_guard if self.kehu is not None and impls else None
        for impl in impls:
            if plugins is not None and impl.plugin_name not in plugins:
                continue
            args = arguments_for(impl, kwargs)
            try:
                if guard is not None:  # personal data only for plugins trusted with it
                    args = guard.event_arguments(impl.plugin_name, hook_name, args)
                await await_me_maybe(impl.function(**args))
            except AlreadyHandled:  # an earlier delivery of this event did the work
                pass
            except (RetryLater, GiveUp) as exc:  # the handler's own decision: no traceback
                failures[impl.plugin_name] = exc
            except Exception as exc:
                log.exception("plugin '%s': %s handler failed", impl.plugin_name, hook_name)
                failures[impl.plugin_name] = exc
        return failures

    def implementers(self, hook_name: str) -> list[str]:
        """The plugins implementing a hook, in registration order."""
        caller = getattr(self.plugins.pm.hook, hook_name, None)
        return [impl.plugin_name for impl in caller.get_hookimpls()] if caller is not None else []

    async def within(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook that is part of the caller's write (``kehu_customers_merged``):
        every implementation in pluggy's order, awaited, inside the caller's
        transaction; returns ``(plugin name, result)`` pairs. Each gets the
        arguments ``kehu.field_guard.event_arguments`` allows its plugin. The first
        that raises stops the rest, and so the write: a ``KehuError`` as it is
        (the user sees its code), anything else logged in full and raised as a
        ``PluginError`` naming the plugin."""
        from ..errors import KehuError

        kwargs.setdefault("kehu", self.kehu)
        guard = self.kehu.field_guard if self.kehu is not None else None
        results = []
        for impl in self.plugins.call_order(hook_name):
            args = arguments_for(impl, kwargs)
            if guard is not None:
                args = guard.event_arguments(impl.plugin_name, hook_name, args)
            try:
                results.append((impl.plugin_name, await await_me_maybe(impl.function(**args))))
            except KehuError:
                raise
            except Exception as exc:
                log.exception("plugin '%s': %s failed", impl.plugin_name, hook_name)
                raise PluginError(f"plugin '{impl.plugin_name}': {hook_name} failed (the server log has why)") from exc
        return results

    async def first(self, hook_name: str, **kwargs: Any) -> Any:
        """Call a ``firstresult`` hook, awaiting async implementations: the first
        non-None result wins. Returns None if no implementation answers."""
        if not self.plugins.is_firstresult(hook_name):
            raise LookupError(f"{hook_name} is not a first-result hook")
        kwargs.setdefault("kehu", self.kehu)
        for impl in self.plugins.call_order(hook_name):
            try:
                result = await await_me_maybe(impl.function(**arguments_for(impl, kwargs)))
            except Exception as exc:
                raise PluginError(f"plugin '{impl.plugin_name}': {hook_name} failed: {exc}") from exc
            if result is not None:
                return result
        return None

    def implemented(self, hook_name: str) -> bool:
        """Whether any enabled plugin implements the hook; False, without raising,
        for a hook defined by a plugin that is not enabled."""
        return self.plugins.is_defined(hook_name) and bool(self.plugins.call_order(hook_name))

    async def lifecycle(self, hook_name: str, kehu: Kehu, *, strict: bool) -> None:
        for impl in self.plugins.call_order(hook_name):
            try:
                await await_me_maybe(impl.function(**arguments_for(impl, {"kehu": kehu})))
            except Exception as exc:
                if strict:
                    raise PluginError(f"plugin '{impl.plugin_name}': {hook_name} failed: {exc}") from exc
                log.exception("plugin '%s': %s failed", impl.plugin_name, hook_name)
