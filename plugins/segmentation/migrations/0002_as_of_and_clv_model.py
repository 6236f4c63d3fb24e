"""As-of dates, the business time zone of a run, the CLV model's parameters and
per-customer figures, and the rule that placed a customer in a value tier."""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops


def _add(model: str, name: str, field) -> ops.AddField:
    return ops.AddField(model_name=model, name=name, field=field)


class Migration(migrations.Migration):
    dependencies = [("segmentation", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ClvCell",
            fields=[
                ("id", fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("x", fields.IntField()),
                ("t_x", fields.IntField()),
                ("age", fields.IntField()),
                ("p_alive", fields.FloatField()),
                ("purchases", fields.FloatField()),
                ("discounted", fields.FloatField()),
            ],
            options={
                "table": "segmentation_clv_cell",
                "app": "segmentation",
                "unique_together": (("x", "t_x", "age"),),
                "pk_attr": "id",
                "table_description": "The CLV model's predictions for one purchase history shape — ``x`` repeat",
            },
            bases=["Model"],
        ),
        _add("RecomputeRun", "as_of", fields.DateField(null=True)),
        _add("RecomputeRun", "timezone", fields.CharField(default="UTC", max_length=64)),
        _add("RecomputeRun", "clv_model", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
        *(
            op
            for model in ("Classification", "Staging")
            for op in (
                _add(model, "purchase_days", fields.IntField(default=0)),
                _add(model, "tier_rule", fields.SmallIntField(null=True)),
                _add(model, "p_alive", fields.FloatField(null=True)),
                _add(model, "expected_purchases", fields.FloatField(null=True)),
                _add(model, "expected_revenue_cents", fields.BigIntField(default=0)),
                _add(model, "as_of", fields.DateField(null=True)),
            )
        ),
    ]
