"""Segment rules: the fields a rule may test (built-in and from other plugins)
and the compiler from a rule tree to one Tortoise ``Q``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from tortoise.expressions import Q, Subquery

from kehu.errors import ValidationError
from kehu.models import AccountOwner, Customer, CustomerKind, CustomerTag

from ..models import AbcClass, Classification, FrequencyClass, LifecycleStage, ValueTier

if TYPE_CHECKING:
    from kehu import Kehu


@dataclass(frozen=True)
class RuleField:
    """A field a segment rule may test. ``compile(op, value) -> Q`` on ``Customer``;
    ``value`` has been checked against ``kind`` (and ``choices``) already."""

    name: str
    kind: str  # "enum", "int", "money", "ratio", "text", "tag", "id"
    compile: Callable[[str, Any], Q]
    choices: tuple[str, ...] = ()
    description: str = ""


OPS_BY_KIND = {
    "enum": ("eq", "ne", "in"),
    "int": ("eq", "ne", "gt", "gte", "lt", "lte", "in"),
    "money": ("eq", "ne", "gt", "gte", "lt", "lte"),
    "ratio": ("gt", "gte", "lt", "lte"),
    "text": ("eq", "ne", "in", "contains", "isNull"),
    "tag": ("contains",),
    "id": ("eq", "ne", "in", "isNull"),
}
LOOKUP = {
    "eq": "",
    "ne": "__not",
    "gt": "__gt",
    "gte": "__gte",
    "lt": "__lt",
    "lte": "__lte",
    "in": "__in",
    "contains": "__icontains",
}


def _classification_field(column: str, to_db: Callable[[Any], Any] = lambda v: v) -> Callable[[str, Any], Q]:
    def compile(op: str, value: Any) -> Q:
        v = [to_db(x) for x in value] if op == "in" else to_db(value)
        ids = Classification.filter(**{f"{column}{LOOKUP[op]}": v}).values("customer_id")
        return Q(id__in=Subquery(ids))

    return compile


def _customer_field(column: str) -> Callable[[str, Any], Q]:
    # Nullable columns: "eq" means "has a value and it equals", so that NOT keeps
    # customers without a value (SQL's NOT(NULL) would drop them).
    def compile(op: str, value: Any) -> Q:
        if op == "isNull":
            return Q(**{f"{column}__isnull": bool(value)})
        return Q(**{f"{column}__isnull": False}) & Q(**{f"{column}{LOOKUP[op]}": value})

    return compile


def _tag(op: str, value: Any) -> Q:
    return Q(id__in=Subquery(CustomerTag.filter(tag=str(value).strip().lower()).values("customer_id")))


def _team(op: str, value: Any) -> Q:
    teams = value if op == "in" else [value]
    q = Q(owner_id__in=Subquery(AccountOwner.filter(team__in=teams).values("id")))
    return ~q & Q(owner_id__isnull=False) if op == "ne" else q


def _owner(op: str, value: Any) -> Q:
    from kehu.ids import from_global_id

    def pk(v):
        return from_global_id(v, "AccountOwner", field="rule.value")[1]

    if op == "isNull":
        return Q(owner_id__isnull=bool(value))
    if op == "in":
        return Q(owner_id__in=[pk(v) for v in value])
    q = Q(owner_id__isnull=False) & Q(owner_id=pk(value))
    return ~Q(owner_id=pk(value)) & Q(owner_id__isnull=False) if op == "ne" else q


def _cents(value: Any) -> int:
    return int(Decimal(value) * 100)


def builtin_rule_fields() -> list[RuleField]:
    enum = lambda e: tuple(m.value for m in e)  # noqa: E731
    return [
        RuleField("valueTier", "enum", _classification_field("value_tier"), enum(ValueTier)),
        RuleField("lifecycleStage", "enum", _classification_field("lifecycle_stage"), enum(LifecycleStage)),
        RuleField("abcClass", "enum", _classification_field("abc_class"), enum(AbcClass)),
        RuleField("frequencyClass", "enum", _classification_field("frequency_class"), enum(FrequencyClass)),
        RuleField("rfmSegment", "text", _classification_field("rfm_segment")),
        RuleField("r", "int", _classification_field("r")),
        RuleField("f", "int", _classification_field("f")),
        RuleField("m", "int", _classification_field("m")),
        RuleField("recencyDays", "int", _classification_field("recency_days")),
        RuleField("frequency", "int", _classification_field("frequency")),
        RuleField("monetary", "money", _classification_field("monetary_cents", _cents)),
        RuleField("clvHistorical", "money", _classification_field("lifetime_revenue_cents", _cents)),
        RuleField("clvPredicted", "money", _classification_field("clv_predicted_cents", _cents)),
        RuleField("clvExpectedRevenue", "money", _classification_field("expected_revenue_cents", _cents)),
        RuleField("probabilityAlive", "ratio", _classification_field("p_alive")),
        RuleField("region", "text", _customer_field("region")),
        RuleField("industry", "text", _customer_field("industry")),
        RuleField("kind", "enum", _customer_field("kind"), enum(CustomerKind)),
        RuleField("tags", "tag", _tag),
        RuleField("team", "text", _team),
        RuleField("ownerId", "id", _owner),
    ]


def rule_fields(kehu: Kehu | None) -> dict[str, RuleField]:
    fields = {f.name: f for f in builtin_rule_fields()}
    if kehu is not None and kehu.hooks.implemented("kehu_segmentation_rule_fields"):
        for plugin, extra in kehu.plugins.each("kehu_segmentation_rule_fields"):
            for f in extra or ():
                if f.name in fields:
                    raise ValidationError(f"plugin '{plugin}' redefines the rule field '{f.name}'", field="rule")
                fields[f.name] = f
    return fields


MAX_RULE_NODES = 200
MAX_RULE_DEPTH = 12


class RuleCompiler:
    """Compiles a rule tree (JSON) to one Tortoise ``Q`` on ``Customer``::

        {"and": [{"field": "valueTier", "op": "eq", "value": "CORE"},
                 {"not": {"field": "region", "op": "in", "value": ["north", "east"]}},
                 {"or": [{"field": "tags", "op": "contains", "value": "vip"},
                         {"field": "m", "op": "gte", "value": 4}]}]}

    Errors name the bad part by its path, e.g. ``rule.and[1].not.op``.
    """

    def __init__(self, fields: dict[str, RuleField]):
        self.fields = fields
        self.nodes = 0

    def compile(self, node: Any, path: str = "rule", depth: int = 0) -> Q:
        self.nodes += 1
        if self.nodes > MAX_RULE_NODES:
            raise self._error(path, f"the rule has more than {MAX_RULE_NODES} parts")
        if depth > MAX_RULE_DEPTH:
            raise self._error(path, f"the rule is nested deeper than {MAX_RULE_DEPTH} levels")
        if not isinstance(node, dict):
            raise self._error(path, "expected an object: {and: [...]}, {or: [...]}, {not: {...}} or a condition")
        keys = set(node)
        for combinator in ("and", "or"):
            if keys == {combinator}:
                parts = node[combinator]
                if not isinstance(parts, list) or not parts:
                    raise self._error(f"{path}.{combinator}", "expected a non-empty list of rules")
                compiled = [self.compile(p, f"{path}.{combinator}[{i}]", depth + 1) for i, p in enumerate(parts)]
                q = compiled[0]
                for other in compiled[1:]:
                    q = (q & other) if combinator == "and" else (q | other)
                return q
        if keys == {"not"}:
            return ~self.compile(node["not"], f"{path}.not", depth + 1)
        if "field" in keys:
            return self._condition(node, path)
        raise self._error(path, f"unexpected keys {sorted(keys)}: use and, or, not, or field/op/value")

    def _condition(self, node: dict, path: str) -> Q:
        extra = set(node) - {"field", "op", "value"}
        if extra:
            raise self._error(path, f"unexpected keys {sorted(extra)} in a condition")
        name = node.get("field")
        field = self.fields.get(name) if isinstance(name, str) else None
        if field is None:
            raise self._error(f"{path}.field", f"unknown field {name!r} (known: {', '.join(sorted(self.fields))})")
        op = node.get("op", "eq")
        allowed = OPS_BY_KIND[field.kind]
        if op not in allowed:
            raise self._error(f"{path}.op", f"operator {op!r} does not apply to {name} (use {', '.join(allowed)})")
        if "value" not in node:
            raise self._error(f"{path}.value", "a value is required")
        value = node["value"]
        if op == "in":
            if not isinstance(value, list) or not value or len(value) > 1000:
                raise self._error(f"{path}.value", "'in' needs a list of 1 to 1000 values")
            value = [self._value(field, v, f"{path}.value[{i}]") for i, v in enumerate(value)]
        elif op == "isNull":
            if not isinstance(value, bool):
                raise self._error(f"{path}.value", "'isNull' needs true or false")
        else:
            value = self._value(field, value, f"{path}.value")
        return field.compile(op, value)

    def _value(self, field: RuleField, value: Any, path: str) -> Any:
        if field.kind == "enum":
            if value not in field.choices:
                raise self._error(path, f"{value!r} is not a {field.name} (one of {', '.join(field.choices)})")
        elif field.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._error(path, f"{field.name} needs a whole number")
        elif field.kind == "money":
            try:
                amount = Decimal(str(value))
            except InvalidOperation:
                raise self._error(path, f'{field.name} needs an amount such as "250.00"') from None
            if isinstance(value, bool) or not amount.is_finite() or abs(amount) > Decimal("1e12"):
                raise self._error(path, f'{field.name} needs an amount such as "250.00"')
            return amount
        elif field.kind == "ratio":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise self._error(path, f"{field.name} needs a number from 0 to 1")
            return float(value)
        elif field.kind in ("text", "tag", "id"):
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise self._error(path, f"{field.name} needs a text of 1 to 200 characters")
        return value

    @staticmethod
    def _error(path: str, message: str) -> ValidationError:
        return ValidationError(f"{path}: {message}", field="rule", code="INVALID_RULE")


def compile_rule(kehu: Kehu | None, rule: Any) -> Q:
    return RuleCompiler(rule_fields(kehu)).compile(rule)


def rule_members(kehu: Kehu | None, rule: Any):
    """Active customers matching ``rule``: one queryset, one SQL query."""
    return Customer.filter(compile_rule(kehu, rule), archived_at__isnull=True)
