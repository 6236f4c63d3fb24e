"""Field policies: which fields carry personal data and how each role may see them.

Declared through the ``kehu_field_policies`` hook; enforced by the masking plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Strategy(str, Enum):
    CLEAR = "CLEAR"
    PARTIAL = "PARTIAL"   # 138****5678, j***@example.com, 张*
    LAST4 = "LAST4"
    HASH = "HASH"         # keyed, stable pseudonym
    REDACT = "REDACT"


@dataclass(frozen=True)
class FieldPolicy:
    """``FieldPolicy("Customer", "phone", kind="phone", roles={"ANALYST": Strategy.PARTIAL})``

    :param type_name: GraphQL type holding the field.
    :param field_name: the GraphQL field name (camelCase).
    :param kind: what the value is (``name``, ``email``, ``phone``, ``address``,
        ``text``, ``id_number``…): decides how PARTIAL looks.
    :param roles: default strategy per role; a role without one is REDACTED.
    """

    type_name: str
    field_name: str
    kind: str = "text"
    roles: dict[str, Strategy] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.type_name}.{self.field_name}"
