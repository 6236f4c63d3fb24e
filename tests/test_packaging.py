"""Packaging: every package is listed, and the namespace is kehu.*."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPING = {"core": "kehu", "schema": "kehu.schema", "plugins": "kehu.plugins"}


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, namespace in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            if "__pycache__" in relative:
                continue
            name = ".".join((namespace, *relative))
            # core/ itself maps to kehu; schema/ and plugins/ are sub-packages of it
            found.add(name)
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_package_dir_maps_into_the_kehu_namespace():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == MAPPING | {} or {v: k for k, v in MAPPING.items()} == config["package-dir"]
    assert not any(p.split(".")[0] != "kehu" for p in config["packages"])


def test_kehu_is_typed_and_licensed_as_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (ROOT / "core" / "py.typed").exists()
    assert "py.typed" in config["tool"]["setuptools"]["package-data"]["kehu"]
    assert config["project"]["license"] == {"text": "Apache-2.0"}
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_the_scaffold_templates_are_package_data():
    from kehu.cli import scaffold

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kehu.cli"]
    templates = sorted(p for p in (ROOT / "core" / "cli" / scaffold.TEMPLATES).rglob("*") if p.is_file())
    assert templates and all(p.suffix == ".tmpl" for p in templates)
    assert patterns == [f"{scaffold.TEMPLATES}/**/*.tmpl"]
    assert len(scaffold.files("notes")) == len(templates)


def test_loggers_are_named_after_their_module():
    for folder in ("core", "schema"):
        for source in (ROOT / folder).rglob("*.py"):
            for line in source.read_text(encoding="utf-8").splitlines():
                if line.startswith("log = logging.getLogger("):
                    assert line == "log = logging.getLogger(__name__)", f"{source.relative_to(ROOT)}: {line}"
