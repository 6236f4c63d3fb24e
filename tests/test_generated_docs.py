"""The parts of the documentation rendered from the code are current: docs/reference.md
(the core's models, every public helper) and the reference section of each built-in
plugin's page (settings, permissions, GraphQL, commands, routes, hooks)."""

from pathlib import Path

import pytest
from test_docs import public_modules

from kehu.cli import docs, reference
from kehu.server.plugin_manager import BUILTIN_PLUGINS

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"

PARTS = {str(part.path.relative_to(ROOT)): part for part in docs.generated_parts(GUIDE)}


@pytest.mark.parametrize("path", sorted(PARTS))
def test_the_generated_part_is_current(path):
    text, expected = PARTS[path].expected()
    assert text == expected, f"{path} is stale: run `{docs.REGENERATE}` from the repository root and commit the result"


def test_every_built_in_plugin_has_a_page_with_its_generated_reference():
    for name in BUILTIN_PLUGINS:
        page = f"docs/plugins/{name}.md"
        assert page in PARTS, f"{page} is missing, or lacks the lines {docs.PLUGIN_START!r} and {docs.PLUGIN_END!r}"


def test_the_reference_covers_exactly_the_public_modules_of_the_guide():
    covered = {*reference.API_MODULES, reference.MODELS_MODULE, reference.HOOKS_MODULE}
    assert covered == public_modules()


def test_every_public_helper_has_a_docstring():
    assert reference.undocumented() == [], "document these (their docstring is their entry in docs/reference.md)"


def test_the_api_reference_shows_fields_signatures_and_docstrings():
    text = reference.render_api_reference()
    customer = text.split("#### `Customer` — table `kehu_customer`", 1)[1].split("####", 1)[0]
    assert "| `owner_id` | → `AccountOwner` (relation `owner`), on delete RESTRICT, null |" in customer
    assert "| `archived_at` | Datetime, null | Set when archived" in customer
    assert "async with write_scope(kehu: Kehu | None, viewer: Viewer | None, operation: str" in text
    assert "nested_connections(info: Any, parent_ids: Sequence[Any], *, queryset: QuerySet" in text
    assert " at 0x" not in text


def test_a_plugin_page_lists_every_setting_with_its_default_and_every_permission():
    from kehu.plugins.loyalty.settings import LoyaltySettings

    text = reference.render_plugin_reference("loyalty")
    for key in LoyaltySettings.model_fields:
        assert f"| `{key}` |" in text, key
    assert "| `expiry_days` | int | `365` |" in text
    assert "| `loyalty.award` | Award points manually | ADMIN, MANAGER | no |" in text
    assert "- `awardPoints(input: AwardPointsInput!): LoyaltyEntryPayload!`" in text
    assert "- `kehu loyalty expire [--at AT] [--no-tier-review]`" in text
    assert "**Fields on `Customer`**" in text and "- `loyalty: CustomerLoyalty!`" in text


def test_check_mode_reports_a_stale_plugin_page_and_leaves_it(tmp_path, capsys):
    guide = tmp_path / "plugins.md"
    guide.write_text(f"{docs.START}\n{docs.END}\n", encoding="utf-8")
    page = tmp_path / "plugins" / "console.md"
    page.parent.mkdir()
    page.write_text(f"# Console\n\n{docs.PLUGIN_START}\nold\n{docs.PLUGIN_END}\n", encoding="utf-8")
    assert docs.main(["--check", str(guide)]) == 1
    assert "console.md: stale" in capsys.readouterr().err
    assert "old" in page.read_text(encoding="utf-8")
    assert docs.main([str(guide)]) == 0
    assert '| `currency` | str | `"CNY"` |' in page.read_text(encoding="utf-8")
    assert docs.main(["--check", str(guide)]) == 0
