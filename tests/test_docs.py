"""docs/plugins.md: its hook reference is generated from the hook specs and current."""

import inspect
from pathlib import Path

from kehu import hookspecs
from kehu.cli import docs

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "plugins.md"


def test_hook_reference_in_the_plugin_guide_is_current():
    text = GUIDE.read_text(encoding="utf-8")
    assert docs.START in text and docs.END in text, "docs/plugins.md lost its hook-reference markers"
    expected = docs.replace_reference(text, docs.render_hook_reference())
    assert text == expected, (
        "docs/plugins.md's hook reference is stale (a hook spec or its docstring changed): "
        f"run `{docs.REGENERATE}` from the repository root and commit the result"
    )


def test_every_core_hook_is_in_the_reference_with_its_docstring():
    reference = docs.render_hook_reference()
    for name, fn in vars(hookspecs).items():
        if name.startswith("kehu_") and callable(fn):
            assert f"#### `{name}`" in reference, name
            first_line = inspect.getdoc(fn).splitlines()[0].replace("``", "`")
            assert first_line in reference, name


def test_reference_marks_first_result_hooks_and_shows_signatures():
    reference = docs.render_hook_reference()
    section = reference.split("#### `kehu_segment_members`")[1].split("#### ")[0]
    assert "First result wins" in section
    assert (
        "kehu_interaction_logged(interaction: Interaction, actor: AccountOwner | None, event_id: int, kehu: Kehu)"
        in reference
    )


def test_check_mode_reports_a_stale_file_and_leaves_it(tmp_path, capsys):
    stale = tmp_path / "plugins.md"
    stale.write_text(f"# Guide\n\n{docs.START}\n\nold reference\n\n{docs.END}\n", encoding="utf-8")
    assert docs.main(["--check", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert "old reference" in stale.read_text(encoding="utf-8")
    assert docs.main([str(stale)]) == 0
    assert docs.main(["--check", str(stale)]) == 0
    assert "#### `kehu_models`" in stale.read_text(encoding="utf-8")
