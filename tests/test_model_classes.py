"""What Tortoise does when it makes a model class, made cheaper for kehu's:

* kehu.server.db.install_filter_tables: the classes get the same filter tables
  as before, for every column of the core and the built-in plugins, and a
  database migrated with the tables reused has the same schema as one migrated
  without;
* ``_no_comments``: no model of kehu has Tortoise's ``#:`` field comments, so
  none asks Tortoise to read them (each ask parses its whole module)."""

import asyncio
import importlib
import inspect
import sqlite3
import sys

import pytest
from tortoise import fields, filters, models
from tortoise.models import Model

from kehu.config import Config
from kehu.models import Customer
from kehu.server import db
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.server.runtime import Kehu


@pytest.fixture
def installed():
    db.install_filter_tables()
    assert models.get_filters_for_field is not filters.get_filters_for_field, "not installed"
    return models.get_filters_for_field


def every_model():
    config = Config(enabled=tuple(BUILTIN_PLUGINS))
    for app in Kehu(config).apps.values():
        for name in app["models"]:
            module = importlib.import_module(name)
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, Model) and value.__module__ == name:
                    yield value


def test_every_column_gets_the_table_tortoise_builds(installed):
    compared = 0
    for model in every_model():
        meta = model._meta
        for name, field in meta.fields_map.items():
            if type(field).__module__ == "tortoise.fields.relational":
                continue  # relations (their tables hold pypika objects made per call) go to Tortoise
            source = field.source_field or name
            for field_name in (name, "pk") if field.pk else (name,):
                ours = installed(field_name, field, source)
                assert ours == filters.get_filters_for_field(field_name, field, source), f"{model.__name__}.{name}"
                compared += 1
    assert compared > 200


def test_columns_alike_but_for_their_source_type_or_attribute_get_their_own_tables(installed):
    def field(kind, attribute, **kwargs):
        made = kind(**kwargs)
        made.model_field_name = attribute
        return made

    cases = [
        ("code", field(fields.CharField, "code", max_length=5, source_field="code_a"), "code_a"),
        ("code", field(fields.CharField, "code", max_length=5, source_field="code_b"), "code_b"),
        ("code", field(filters.TSVectorField, "code"), "code"),
        ("pk", field(fields.IntField, "number", primary_key=True, source_field="key"), "key"),
        ("pk", field(fields.IntField, "ident", primary_key=True, source_field="key"), "key"),
    ]
    for arguments in cases * 2:
        assert installed(*arguments) == filters.get_filters_for_field(*arguments), arguments


def test_a_table_is_built_once_and_each_model_gets_a_dict_of_its_own(installed):
    field = Customer._meta.fields_map["id"]
    first, second = installed("id", field, "id"), installed("id", field, "id")
    assert first == second and first is not second
    assert first["id__in"] is second["id__in"]  # shared: Tortoise copies one before changing it
    first.clear()
    assert installed("id", field, "id") == second


def test_a_schema_migrated_with_the_tables_reused_is_the_one_tortoise_makes(tmp_path, installed, monkeypatch):
    apps = Kehu(Config(enabled=("loyalty", "surveys"))).apps

    def migrated(path):
        async def run():
            ctx = await db.open_context(db.tortoise_config(f"sqlite://{path}", apps), global_fallback=False)
            try:
                await db.migrate(ctx, apps)
            finally:
                await db.close_context(ctx)

        asyncio.run(run())
        with sqlite3.connect(path) as connection:
            return sorted(
                connection.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            )

    reused = migrated(tmp_path / "reused.db")
    monkeypatch.setattr(models, "get_filters_for_field", filters.get_filters_for_field)
    monkeypatch.setattr(db, "install_filter_tables", lambda: None)
    assert migrated(tmp_path / "tortoise.db") == reused


def test_every_model_of_kehu_says_it_has_no_field_comments_to_read():
    """Tortoise reads ``#:`` comments above fields as their descriptions by
    parsing the model's module with ``ast`` once per class (``inspect.getsource``),
    unless the class sets ``_no_comments``: a quarter of a second at every start of
    a kehu process, for comments kehu does not write (descriptions go in
    ``description=``)."""
    for model in every_model():
        assert vars(model).get("_no_comments") is True, f"{model.__module__}.{model.__name__}: set _no_comments = True"
        source = inspect.getsource(sys.modules[model.__module__])
        assert "#:" not in source, f"{model.__module__}: a '#:' comment would not be read; use description="
