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
