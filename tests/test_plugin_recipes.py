"""docs/plugins.md, section 5: every code block quoting the scaffold is exactly what
`kehu new-plugin deals --purpose "Sales opportunities per customer"` writes (whose
own tests run in tests/test_third_party.py), so the recipes cannot drift from code
that works."""

import re
from pathlib import Path

from kehu.cli.scaffold import files

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"^```python\n# (\S+\.py)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def recipes() -> list[tuple[str, str]]:
    section = GUIDE.read_text(encoding="utf-8").split("\n## 5. Recipes", 1)[1]
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(section)]


def test_every_quote_of_the_scaffold_is_what_it_writes():
    generated = files("deals", "Sales opportunities per customer")
    quotes = recipes()
    assert len(quotes) >= 12
    for path, code in quotes:
        assert path in generated, f"docs/plugins.md quotes {path}, which the scaffold does not write"
        assert code in generated[path], f"docs/plugins.md's quote of {path} is not in the generated file:\n{code}"


def test_the_recipes_cover_what_plugin_authors_asked_for():
    text = "".join(code for _, code in recipes())
    for needle in (
        "paginate(",
        "nested_connections(",
        "ModelNode, model=",
        "graphql.node(",
        "validation.amount(",
        "publish(",
        "kehu_app.subscribe(",
        "event_id=event_id",
        "add_subparsers(",
        "kehu_app.command(",
        "count_queries()",
        'config={"roles":',
    ):
        assert needle in text, needle
