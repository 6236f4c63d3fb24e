"""Hooks the segmentation plugin defines for other plugins, registered through
``kehu_plugin_info()["hookspecs"]``. Same rules as ``kehu.hookspecs``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kehu.hookspecs import hookspec

if TYPE_CHECKING:
    from .service import RuleField


@hookspec
def kehu_segmentation_rule_fields() -> list[RuleField]:
    """Expose customer attributes to segment rules.

    Return a list of ``kehu.plugins.segmentation.service.RuleField``: a
    camelCase ``name`` (no clash with the built-in fields or other plugins),
    a ``kind`` (``enum``, ``int``, ``money``, ``ratio``, ``text``, ``tag``, ``id``), and
    ``compile(op, value)`` returning a Tortoise ``Q`` on ``Customer`` —
    typically ``Q(id__in=Subquery(MyModel.filter(...).values("customer_id")))``
    so it stays one SQL query. Called when a rule is compiled; only active when
    the segmentation plugin is enabled.
    """
