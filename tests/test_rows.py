"""kehu.server.db.install_row_builders and ``row_reader``: every model builds the same
instance from a row as Tortoise's own ``_init_from_db`` does — values, their types and time zones, and
Tortoise's bookkeeping attributes — on the demo data of every built-in plugin,
with and without the masking plugin's encryption at rest."""

import datetime

import pytest
from tortoise.models import Model

from kehu.cli.demo import seed_demo
from kehu.plugins.masking.service.crypto import generate_key
from kehu.server.db import row_reader

TORTOISE_INIT_FROM_DB = Model._init_from_db.__func__
PLUGINS = ("segmentation", "loyalty", "complaints", "surveys", "masking")
ENCRYPTED = {
    "masking": {
        "encrypted_fields": ["Customer.phone", "Customer.attributes.id_number"],
        "personal_attributes": {"id_number": "id_number"},
    }
}


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("KEHU_MASKING_KEY", generate_key())


def described(instance) -> dict:
    """Each attribute with its type and repr: a str where an enum member belongs
    differs here even where == would not tell. A datetime is its ISO text and its
    offset, so one in another time zone differs too; UTC is UTC whether the
    tzinfo is ``datetime.UTC`` or ``ZoneInfo("UTC")`` (kehu.bulk's converter
    keeps the first, Tortoise makes the second)."""
    return {name: _described(value) for name, value in vars(instance).items()}


def _described(value):
    if isinstance(value, datetime.datetime):
        return (datetime.datetime, value.isoformat(), value.utcoffset(), value.tzname())
    return (type(value), repr(value))


async def compare_every_model(kehu) -> dict[str, int]:
    compared = {}
    connection = kehu.ctx.db()
    for model in kehu.ctx.apps.get_models_iterable():
        assert model.__dict__.get("_kehu_row_builder"), f"{model.__name__} has no row builder"
        rows = await connection.execute_query_dict(f'SELECT * FROM "{model._meta.db_table}" LIMIT 300')
        for row in rows:
            ours, theirs = model._init_from_db(**row), TORTOISE_INIT_FROM_DB(model, **row)
            assert type(ours) is type(theirs) is model
            assert described(ours) == described(theirs), f"{model.__name__} row {row}"
            # By position, columns in another order and one the model does not have.
            columns = ["_rank", *reversed(row)]
            by_position = row_reader(model, columns)([7, *(row[c] for c in columns[1:])])
            assert described(by_position) == described(theirs), f"{model.__name__} row {row}"
        compared[model.__name__] = len(rows)
    return compared


@pytest.mark.parametrize("settings", [None, ENCRYPTED], ids=["clear", "encrypted"])
def test_row_builders_match_tortoise_on_every_model(make_app, key, settings):
    app = make_app(enabled=PLUGINS, settings=settings)
    app.run(lambda: seed_demo(app.kehu, force=True))  # beside the test accounts
    compared = app.run(lambda: compare_every_model(app.kehu))
    with_rows = {name for name, n in compared.items() if n}
    # Not vacuous: the models a page of customers is built from all had rows.
    assert {
        "AccountOwner",
        "Customer",
        "Interaction",
        "LoyaltyAccount",
        "LedgerEntry",
        "Classification",
        "Complaint",
        "Response",
        "AuditEntry",
    } <= with_rows, compared


def test_partial_rows_fall_back_to_tortoise(make_app):
    from kehu.models import Customer

    app = make_app()

    async def partial():
        await Customer.create(name="Only a name", email="only@example.com")
        return await Customer.filter(name="Only a name").only("id", "name").first()

    customer = app.run(partial)
    assert customer.name == "Only a name" and customer._partial is True


def test_timestamps_read_in_utc_stay_utc_and_others_come_to_utc(app):
    from kehu.bulk import field_converter
    from kehu.models import Interaction

    convert = field_converter(Interaction._meta.fields_map["occurred_at"])
    text = convert("2024-10-31 21:03:45.608398+00:00")  # as SQLite keeps it
    assert text.tzinfo is datetime.UTC and text.isoformat() == "2024-10-31T21:03:45.608398+00:00"
    read = datetime.datetime(2024, 10, 31, 21, 3, 45, tzinfo=datetime.UTC)  # as asyncpg reads it
    assert convert(read) is read
    elsewhere = convert("2024-11-01 05:03:45+08:00")
    assert elsewhere == read and elsewhere.utcoffset() == datetime.timedelta(0)
    assert convert(None) is None
