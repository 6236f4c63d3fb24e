"""References rendered from the code, for docs/reference.md and docs/plugins/NAME.md.

* ``render_api_reference()``: every public module a plugin may import (the list in
  docs/plugins.md, "Public modules"), each public function and class with its
  signature and docstring, and the core's Tortoise models with their fields — the
  comment lines above a field in ``kehu/models.py`` are its description.
* ``render_plugin_reference(name)``: what a built-in plugin adds, read from the
  plugin itself: its settings model (types, defaults, descriptions), its
  permissions, its ``kehu`` commands, its GraphQL types and fields (the schema
  with it enabled, less the schema without it), its routes and the hooks it
  defines.

``python -m kehu.cli.docs`` writes both between their marker lines; the tests fail
when a page is stale.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import json
import re
import textwrap
from decimal import Decimal
from types import ModuleType
from typing import Any

from pydantic import BaseModel

#: The modules a plugin may import, in the order the reference shows them. The
#: guide's "Public modules" list and the import contract must agree with it
#: (tests/test_docs.py).
API_MODULES = (
    "kehu",
    "kehu.access",
    "kehu.writes",
    "kehu.errors",
    "kehu.validation",
    "kehu.customers",
    "kehu.interactions",
    "kehu.owners",
    "kehu.policies",
    "kehu.ids",
    "kehu.events",
    "kehu.jobs",
    "kehu.clock",
    "kehu.figures",
    "kehu.i18n",
    "kehu.bulk",
    "kehu.csvsafe",
    "kehu.matching",
    "kehu.duplicates",
    "kehu.merges",
    "kehu.search",
    "kehu.config",
    "kehu.schema",
    "kehu.testing",
)
MODELS_MODULE = "kehu.models"
# Documented elsewhere: the hook specs (docs/plugins.md, section 3).
HOOKS_MODULE = "kehu.hookspecs"


# --------------------------------------------------------------------------- helpers


def first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(doc.strip().split("\n\n", 1)[0].split())


def _annotation(value: Any) -> str:
    if value is inspect.Parameter.empty:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, type) and not getattr(value, "__args__", None):
        return value.__name__
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", str(value))
    # Dotted names read as their last part (typing.Any, decimal.Decimal, a plugin's
    # settings class), except dt.datetime, which is how kehu's code writes it.
    return re.sub(
        r"\b(?:[a-z_][\w]*\.)+([A-Za-z_]\w*)",
        lambda m: m.group(0) if m.group(0).startswith("dt.") else m.group(1),
        text,
    )


def signature_of(obj: Any, name: str | None = None) -> str:
    """``name(param: type = default, *, kw) -> type``, without ``self``."""
    name = name or obj.__name__
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"{name}(…)"
    parts: list[str] = []
    star_done = False
    for param in sig.parameters.values():
        if param.name in ("self", "cls"):
            continue
        text = param.name
        if param.kind is param.VAR_POSITIONAL:
            text, star_done = f"*{param.name}", True
        elif param.kind is param.VAR_KEYWORD:
            text = f"**{param.name}"
        elif param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        annotation = _annotation(param.annotation)
        if annotation and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            text += f": {annotation}"
        if param.default is not inspect.Parameter.empty:
            text += f" = {_default(param.default)}"
        parts.append(text)
    text = f"{name}({', '.join(parts)})"
    returns = _annotation(sig.return_annotation)
    if returns and returns != "None":
        text += f" -> {returns}"
    return text


def _default(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _markdown(doc: str) -> str:
    from .docs import rst_to_markdown

    return rst_to_markdown(doc)


def _async(obj: Any) -> str:
    wrapped = getattr(obj, "__wrapped__", None)
    if wrapped is not None and inspect.isasyncgenfunction(wrapped):
        return "async with "  # an asynccontextmanager
    if wrapped is not None and inspect.isgeneratorfunction(wrapped):
        return "with "
    return "async " if inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj) else ""


def _own_doc(cls: type) -> str | None:
    """The class's docstring, unless inherited or the one dataclasses make up."""
    # An enum's GraphQL description is set when kehu.schema is imported (strawberry
    # marks the class itself): read its docstring, so the page never depends on that.
    definition = None if issubclass(cls, enum.Enum) else getattr(cls, "__strawberry_definition__", None)
    if definition is not None and definition.description:
        return definition.description  # a GraphQL type: its schema description
    doc = inspect.getdoc(cls)
    if not doc or doc.startswith(f"{cls.__name__}(") or doc == inspect.getdoc(cls.__base__):
        return None
    return doc


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``, or the functions and classes it defines itself
    (not those it imports) whose names do not start with ``_``, in source order."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n for n in names if not n.startswith("_")]
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            found.append(name)
    return found


def field_comments(cls: type) -> dict[str, str]:
    """``{attribute: comment}`` from the ``#`` lines right above (or at the end of)
    each ``name = …`` / ``name: … = …`` line of a class body."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    body_indent: int | None = None
    for line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            pending = []
            continue
        indent = len(line) - len(line.lstrip())
        body_indent = indent if body_indent is None else body_indent
        if indent != body_indent:
            continue
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = re.match(r"^(\w+)\s*(?::[^=]*)?=", stripped)
        if match:
            trailing = ""
            code, hash_, comment = stripped.partition("  #")
            if hash_:
                trailing = comment.strip()
            text = " ".join([*pending, trailing]).strip()
            if text:
                comments[match.group(1)] = text
        pending = []
    return comments


# --------------------------------------------------------------------------- API


def _render_function(name: str, obj: Any, level: str) -> list[str]:
    out = [f"{level} `{name}`", "", "```python", _async(obj) + signature_of(obj, name), "```", ""]
    doc = inspect.getdoc(obj)
    if doc:
        out += [_markdown(doc), ""]
    return out


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties a class defines itself."""
    found = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name in ("model_config", "Meta"):
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member) or isinstance(member, property):
            found.append((name, member))
    return found


def _render_class(name: str, cls: type, level: str) -> list[str]:
    bases = [b.__name__ for b in cls.__bases__ if b is not object]
    header = f"class {name}" + (f"({', '.join(bases)})" if bases else "")
    out = [f"{level} `{name}`", "", "```python", header, "```", ""]
    doc = _own_doc(cls)
    if doc:
        out += [_markdown(doc), ""]
    if issubclass(cls, enum.Enum):
        out += ["Members: " + ", ".join(f"`{m.name}`" for m in cls), ""]
        return out
    if issubclass(cls, BaseException):
        code = getattr(cls, "code", None)
        if code:
            out += [f"Code: `{code}`.", ""]
        return out
    init = cls.__dict__.get("__init__")
    graphql_type = hasattr(cls, "__strawberry_definition__")  # built by strawberry, not by hand
    if (init is not None or hasattr(cls, "__dataclass_fields__")) and not graphql_type:
        out += ["```python", signature_of(cls, name), "```", ""]
    members = _members(cls)
    if members:
        for member_name, member in members:
            if isinstance(member, property):
                line = f"- `{member_name}` (property)"
                doc = first_paragraph(inspect.getdoc(member.fget))
            else:
                line = f"- `{_async(member)}{signature_of(member, member_name)}`"
                doc = first_paragraph(inspect.getdoc(member))
            out.append(line + (f": {doc}" if doc else ""))
        out.append("")
    return out


def render_module(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    out = [f"### `{module_name}`", ""]
    doc = inspect.getdoc(module)
    if doc:
        out += [_markdown(doc), ""]
    for name in public_names(module):
        obj = getattr(module, name)
        if inspect.isclass(obj):
            out += _render_class(name, obj, "####")
        elif callable(obj):
            out += _render_function(name, obj, "####")
        else:
            out += [f"#### `{name}`", "", f"`{name} = {_default(obj)}`", ""]
    return out


def undocumented() -> list[str]:
    """Public functions and classes of the API modules without a docstring."""
    missing = []
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            doc = _own_doc(obj) if inspect.isclass(obj) and not issubclass(obj, enum.Enum) else inspect.getdoc(obj)
            if (inspect.isclass(obj) or callable(obj)) and not doc:
                missing.append(f"{module_name}.{name}")
    return missing


def _field_type(field: Any) -> str:
    from tortoise import fields as tf

    if isinstance(field, tf.relational.ForeignKeyFieldInstance):
        return f"→ {str(field.model_name).split('.')[-1]}"
    if isinstance(field, tf.data.CharEnumFieldInstance):
        return field.enum_type.__name__
    kind = type(field).__name__.removesuffix("Instance").removesuffix("Field")
    if getattr(field, "max_length", None):
        return f"{kind}({field.max_length})"
    if kind == "Decimal":
        return f"Decimal({field.max_digits},{field.decimal_places})"
    return kind


def _model_fields(model: Any) -> list[tuple[str, str, str]]:
    """``(column attribute, type and constraints, description)`` of a model's fields
    in declaration order; a foreign key shows as its ``_id`` column."""
    comments = field_comments(model)
    rows = []
    meta = model._meta
    # Once Tortoise is initialised (in a running app) the map also holds each foreign
    # key's `_id` column and the reverse relations: the page must not depend on that.
    relations = set(meta.fk_fields) | set(meta.o2o_fields)
    skip = {f"{name}_id" for name in relations} | set(meta.backward_fk_fields) | set(meta.backward_o2o_fields)
    skip |= set(meta.m2m_fields)
    for name, field in meta.fields_map.items():
        if name in skip:
            continue
        flags = []
        if name in meta.fk_fields or name in meta.o2o_fields:
            target = field.model_name.split(".")[-1]
            kind = f"→ `{target}` (relation `{name}`)"
            column = f"{name}_id"
            flags.append(f"on delete {str(getattr(field, 'on_delete', '')).split('.')[-1].upper()}")
        else:
            kind, column = _field_type(field), name
        if getattr(field, "pk", False):
            flags.append("primary key")
        if field.null:
            flags.append("null")
        if field.unique and not getattr(field, "pk", False):
            flags.append("unique")
        if getattr(field, "auto_now", False):
            flags.append("set on save")
        elif getattr(field, "auto_now_add", False):
            flags.append("set on create")
        elif callable(field.default):
            flags.append(f"default {field.default.__name__}()")
        elif field.default is not None:
            flags.append(f"default {_default(field.default)}")
        text = kind + (f", {', '.join(flags)}" if flags else "")
        rows.append((column, text, comments.get(name, "")))
    return rows


def render_models() -> list[str]:
    from tortoise.models import Model

    module = importlib.import_module(MODELS_MODULE)
    out = [f"### `{MODELS_MODULE}`", ""]
    doc = inspect.getdoc(module)
    if doc:
        out += [_markdown(doc), ""]
    names = public_names(module)
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) and issubclass(obj, Model) and obj is not Model:
            out += [f"#### `{name}` — table `{obj._meta.db_table}`", ""]
            doc = inspect.getdoc(obj)
            if doc:
                out += [_markdown(doc), ""]
            out += ["| field | type | notes |", "| --- | --- | --- |"]
            for field_name, kind, comment in _model_fields(obj):
                out.append(f"| `{field_name}` | {kind} | {_cell(_inline(comment))} |")
            out.append("")
    enums = [n for n in names if inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), enum.Enum)]
    out += ["#### Enums", "", "| enum | members |", "| --- | --- |"]
    for name in enums:
        members = ", ".join(f"`{m.name}`" for m in getattr(module, name))
        out.append(f"| `{name}` | {members} |")
    out.append("")
    return out


def _inline(text: str) -> str:
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|").replace("\n", " ")


def render_api_reference() -> str:
    out = [
        "Rendered from the code by `python -m kehu.cli.docs`: the signatures and",
        "docstrings of every public function and class of the modules a plugin may",
        "import, and the fields of the core's models (the comments above each field",
        "in `kehu/models.py`). The hooks are in docs/plugins.md, section 3.",
        "",
        "## The core's models",
        "",
        *render_models(),
        "## Public helpers",
        "",
    ]
    for module_name in API_MODULES:
        out += render_module(module_name)
    return _stable("\n".join(out).rstrip() + "\n")


def _stable(text: str) -> str:
    """No memory addresses: the page must read the same on every run."""
    return re.sub(r"<([\w.]+?)(?: object)? at 0x[0-9a-f]+>", r"\1", text)


# --------------------------------------------------------------------------- plugins


def toml_value(value: Any) -> str:
    """A value as plugins.toml writes it."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return toml_value(value.value)
    if isinstance(value, Decimal):
        return format(value, "f") if value == value.to_integral_value() or abs(value) >= 1e-4 else str(value)
    if isinstance(value, (int, float)):
        return str(value)
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _key(key: Any) -> str:
    key = key.value if isinstance(key, enum.Enum) else str(key)
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)


def _type_name(annotation: Any) -> str:
    text = _annotation(annotation)
    text = re.sub(r"Literal\[(.*?)\]", lambda m: " \\| ".join(m.group(1).split(", ")), text)
    return text.replace("|", "\\|") if " \\| " not in text else text


def settings_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and the models of its fields, depth first, each once."""
    found: list[type[BaseModel]] = []

    def visit(cls: type[BaseModel]) -> None:
        if cls in found:
            return
        found.append(cls)
        for field in cls.model_fields.values():
            for arg in _classes_in(field.annotation):
                if issubclass(arg, BaseModel):
                    visit(arg)

    visit(model)
    return found


def _classes_in(annotation: Any) -> list[type]:
    if isinstance(annotation, type):
        return [annotation]
    return [c for arg in getattr(annotation, "__args__", ()) for c in _classes_in(arg)]


def render_settings(name: str, model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return ["### Settings", "", f"None: a `[plugins.{name}]` section is refused.", ""]
    out = ["### Settings", "", f"`[plugins.{name}]` in plugins.toml; every key is optional.", ""]
    for cls in settings_models(model):
        if cls is not model:
            doc = first_paragraph(cls.__dict__.get("__doc__"))  # its own, not pydantic's BaseModel's
            out += [f"`{cls.__name__}`" + (f" — {_cell(doc)}" if doc else ""), ""]
        comments = field_comments(cls)
        out += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        for key, field in cls.model_fields.items():
            default = "(required)" if field.is_required() else toml_value(field.get_default(call_default_factory=True))
            meaning = field.description or comments.get(key, "")
            bounds = [
                f"{symbol} {toml_value(getattr(m, attr))}"
                for m in field.metadata
                for attr, symbol in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
                if getattr(m, attr, None) is not None
            ]
            if bounds:
                meaning = (meaning + " " if meaning else "") + f"({', '.join(bounds)})"
            out.append(f"| `{key}` | {_type_name(field.annotation)} | `{_cell(default)}` | {_cell(meaning)} |")
        out.append("")
    return out


def _every_parser(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for sub_name, child in action.choices.items():
                child._kehu_help = helps.get(sub_name)
                yield from _every_parser(child, (*path, sub_name))


def render_commands(app: Any, name: str) -> list[str]:
    parser = argparse.ArgumentParser(prog="kehu", add_help=False)
    sub = parser.add_subparsers(dest="command")
    for plugin, _ in app.plugins.each("kehu_commands", subparsers=sub):
        if plugin != name:
            raise AssertionError("only the documented plugin adds commands here")
    if not sub.choices:
        return ["### Commands", "", "None.", ""]
    out = ["### Commands", ""]
    for path, command in _every_parser(parser, ("kehu",)):
        if len(path) == 1:
            continue
        has_children = any(isinstance(a, argparse._SubParsersAction) for a in command._actions)
        if has_children and len(path) > 2:
            continue
        summary = getattr(command, "_kehu_help", "") or ""
        if has_children:
            out += [f"`{' '.join(path)} …` — {summary}", ""]
            continue
        arguments = [a for a in command._actions if not isinstance(a, argparse._HelpAction)]
        usage = " ".join([*path, *(_usage(a) for a in arguments)])
        out += [f"- `{usage}` — {summary}"]
        for action in arguments:
            if action.help and action.help != argparse.SUPPRESS:
                out.append(
                    f"  - `{_usage(action, bare=True)}`: {action.help % vars(action) if '%(' in action.help else action.help}"
                )
    out.append("")
    return out


def _usage(action: argparse.Action, bare: bool = False) -> str:
    if not action.option_strings:
        text = str(action.metavar or action.dest.upper())
        text = f"{text}…" if action.nargs in ("*", "+") else text
        return text if bare or action.nargs not in ("?", "*") else f"[{text}]"
    option = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    if action.nargs == 0:
        text = option
    else:
        metavar = action.metavar or (
            "{" + ",".join(str(c) for c in action.choices) + "}" if action.choices else action.dest.upper()
        )
        text = f"{option} {metavar}"
    return text if bare or action.required else f"[{text}]"


def render_permissions(app: Any, name: str) -> list[str]:
    permissions = [p for plugin, result in app.plugins.each("kehu_permissions") if plugin == name for p in result or ()]
    if not permissions:
        return ["### Permissions", "", "None of its own.", ""]
    out = [
        "### Permissions",
        "",
        "Granted by default to the roles listed (ADMIN holds every permission); `[roles]`",
        "in plugins.toml grants more. ANALYST can hold only read permissions.",
        "",
        "| permission | what it allows | roles | read only |",
        "| --- | --- | --- | --- |",
    ]
    for p in permissions:
        out.append(f"| `{p.name}` | {_cell(p.description)} | {', '.join(p.roles)} | {'yes' if p.read else 'no'} |")
    out.append("")
    return out


def _sdl_types(sdl: str) -> dict[str, Any]:
    from graphql import build_schema

    return dict(build_schema(sdl).type_map)


def _describe(field: Any) -> str:
    return _cell(first_paragraph(field.description or ""))


def _field_line(field_name: str, field: Any) -> str:
    args = ", ".join(f"{a}: {arg.type}" for a, arg in field.args.items())
    signature = f"{field_name}({args}): {field.type}" if args else f"{field_name}: {field.type}"
    description = _describe(field)
    return f"- `{signature}`" + (f" — {description}" if description else "")


def render_graphql(app: Any, core_sdl: str) -> list[str]:
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType

    before = _sdl_types(core_sdl)
    after = _sdl_types(app.schema.as_str())
    out = ["### GraphQL", ""]
    roots = {"Query": "Queries", "Mutation": "Mutations", "Subscription": "Subscriptions"}
    extended = [*roots, "Customer", "Interaction", "AccountOwner", "CustomerFilterInput"]
    for type_name in extended:
        new = after.get(type_name)
        old = before.get(type_name)
        if new is None or not hasattr(new, "fields"):
            continue
        added = [f for f in new.fields if old is None or f not in old.fields]
        if not added:
            continue
        title = roots.get(type_name, f"Fields on `{type_name}`")
        out += [f"**{title}**", ""]
        for field_name in added:
            field = new.fields[field_name]
            if isinstance(new, GraphQLInputObjectType):
                out.append(f"- `{field_name}: {field.type}`" + (f" — {_describe(field)}" if field.description else ""))
            else:
                out.append(_field_line(field_name, field))
        out.append("")
    builtin_scalars = {"String", "Int", "Float", "Boolean", "ID"}
    types = sorted(t for t in after if t not in before and not t.startswith("__") and t not in builtin_scalars)
    if types:
        out += ["**Types**", ""]
        for type_name in types:
            gql_type = after[type_name]
            description = _describe(gql_type)
            if isinstance(gql_type, GraphQLEnumType):
                values = " ".join(gql_type.values)
                out.append(f"- enum `{type_name}`: {values}" + (f" — {description}" if description else ""))
            elif isinstance(gql_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
                kind = {GraphQLObjectType: "type", GraphQLInterfaceType: "interface"}.get(type(gql_type), "input")
                implements = [i.name for i in getattr(gql_type, "interfaces", ())]
                head = f"{kind} `{type_name}`" + (f" (implements {', '.join(implements)})" if implements else "")
                fields = " ".join(gql_type.fields)
                out.append(f"- {head}: `{fields}`" + (f" — {description}" if description else ""))
            else:
                out.append(f"- `{type_name}`" + (f" — {description}" if description else ""))
        out.append("")
    if len(out) == 2:
        out += ["None: it adds nothing to the schema.", ""]
    return out


def render_routes(app: Any, name: str) -> list[str]:
    routes = [r for plugin, result in app.plugins.each("kehu_routes", kehu=app) if plugin == name for r in result or ()]
    if not routes:
        return []
    out = ["### HTTP routes", ""]
    for route in routes:
        path = getattr(route, "path", "?")
        methods = ", ".join(sorted(getattr(route, "methods", None) or [])) or "any"
        out.append(f"- `{path}` ({methods})")
    out.append("")
    return out


def render_hookimpls(app: Any, name: str) -> list[str]:
    hooks = [h for h in app.plugins.records[name].hooks if h in _core_hooks()]
    return [
        "### Hooks it implements",
        "",
        ", ".join(f"`{h}`" for h in hooks) + " (docs/plugins.md, section 3).",
        "",
    ]


def _core_hooks() -> set[str]:
    from .. import hookspecs

    return {n for n in vars(hookspecs) if n.startswith("kehu_")}


def render_hookspecs(app: Any, name: str) -> list[str]:
    specs = app.plugins.records[name].info.get("hookspecs")
    if specs is None:
        return ["### Hooks it defines", "", "None.", ""]
    from .docs import _hook_specs

    source = importlib.import_module(specs) if isinstance(specs, str) else specs
    out = [
        "### Hooks it defines",
        "",
        "For other plugins to implement (full text in docs/plugins.md, section 3):",
        "",
    ]
    for _, hook, fn in _hook_specs(source):
        out.append(f"- `{hook}` — {_cell(first_paragraph(inspect.getdoc(fn)))}")
    out.append("")
    return out


_CORE_SDL: list[str] = []


def core_sdl() -> str:
    from ..config import parse_config
    from ..server.runtime import Kehu

    if not _CORE_SDL:
        _CORE_SDL.append(Kehu(parse_config({})).schema.as_str())
    return _CORE_SDL[0]


def render_plugin_reference(name: str) -> str:
    """The generated part of docs/plugins/NAME.md."""
    from ..config import parse_config
    from ..server.runtime import Kehu

    app = Kehu(parse_config({"plugins": {"enabled": [name]}}))
    record = app.plugins.records[name]
    settings = type(record.settings) if record.settings is not None else None
    description = record.info.get("description")
    out = [
        f'Rendered from the plugin\'s code by `python -m kehu.cli.docs`: enable it with `"{name}"` in',
        "`[plugins] enabled`, then run `kehu migrate`."
        + (f" Its own summary: *{description}*." if description else ""),
        "",
    ]
    requires = record.info.get("requires")
    if requires:
        out += [f"Requires: {', '.join(f'`{r}`' for r in requires)}.", ""]
    out += render_settings(name, settings)
    out += render_permissions(app, name)
    out += render_graphql(app, core_sdl())
    out += render_commands(app, name)
    out += render_routes(app, name)
    out += render_hookimpls(app, name)
    out += render_hookspecs(app, name)
    return "\n".join(line.rstrip() for line in out).rstrip() + "\n"


def wrap(text: str, width: int = 80) -> list[str]:
    return textwrap.wrap(text, width=width)
