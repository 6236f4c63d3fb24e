"""docs/plugins.md: its hook reference is generated from the hook specs and current; its list
of public modules is the one the import contracts enforce."""

import importlib
import inspect
import pkgutil
import re
import tomllib
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


# --------------------------------------------------------------------------- public modules

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ROOMS = {"kehu.server", "kehu.cli", "kehu.testing", "kehu.schema", "kehu.plugins"}


def public_modules() -> set[str]:
    """The modules docs/plugins.md lists under "Public modules"."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("### Public modules", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for item in re.split(r"\n(?=\* )", section):
        if item.startswith("* "):
            names.update(re.findall(r"`(kehu(?:\.\w+)*)`", item.split(" — ", 1)[0]))
    return names


def contract(contract_id: str) -> dict:
    return next(c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c["id"] == contract_id)


def children(package: str) -> set[str]:
    module = importlib.import_module(package)
    return {f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)}


def kehu_modules() -> set[str]:
    """kehu's top-level modules and rooms (the package-dir mapping puts kehu.schema
    and kehu.plugins in folders of their own), and the modules of kehu.schema."""
    mapped = set(PYPROJECT["tool"]["setuptools"]["package-dir"]) - {"kehu"}
    return {"kehu", *children("kehu"), *mapped, *children("kehu.schema")}


def expand(expressions: list[str]) -> set[str]:
    return {m for e in expressions for m in (children(e[:-2]) if e.endswith(".*") else {e})}


def test_the_public_modules_of_the_guide_are_what_the_import_contract_allows():
    public = public_modules()
    assert {"kehu", "kehu.models", "kehu.access", "kehu.writes", "kehu.schema"} <= public
    forbidden = expand(contract("public-api")["forbidden_modules"])
    modules = kehu_modules() - {"kehu.plugins"}
    assert public <= modules, f"listed but not in kehu: {sorted(public - modules)}"
    assert not public & forbidden, f"listed as public and forbidden to plugins: {sorted(public & forbidden)}"
    # Every module is one or the other: a new module must be listed or forbidden.
    assert modules == public | forbidden, f"neither public nor forbidden: {sorted(modules - public - forbidden)}"


def test_the_domain_contract_covers_every_module_outside_the_rooms():
    domain = set(contract("domain")["source_modules"])
    top_level = {m for m in kehu_modules() if m.count(".") == 1} - ROOMS
    assert domain == top_level
    assert set(contract("domain")["forbidden_modules"]) == ROOMS
