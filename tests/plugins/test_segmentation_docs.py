"""docs/plugins/segmentation.md cannot go stale: its worked example is recomputed
here from the page's own tables, and every setting must be on the page."""

import datetime as dt
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kehu.models import Customer, Interaction, InteractionKind
from kehu.plugins.segmentation import service
from kehu.plugins.segmentation.models import Classification
from kehu.plugins.segmentation.settings import SegmentationSettings

DOC = Path(__file__).parents[2] / "docs" / "plugins" / "segmentation.md"


def section(marker: str) -> list[str]:
    """The block after ``<!-- marker -->``: a fenced block to its closing fence,
    else the lines up to the next blank line."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"<!-- {marker} -->") + 1
    if lines[start].startswith("```"):
        end = lines.index("```", start + 1)
        return lines[start : end + 1]
    out = []
    for line in lines[start:]:
        if not line.strip():
            break
        out.append(line)
    return out


def table(marker: str) -> list[dict[str, str]]:
    lines = section(marker)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def example_config() -> dict:
    lines = section("worked-example:settings")
    assert lines[0] == "```toml" and lines[-1] == "```"
    return tomllib.loads("\n".join(lines[1:-1]))


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:,.2f}"


def whole(cents: int) -> str:
    return f"{Decimal(cents) / 100:,.0f}"


def render(row: Classification, s: SegmentationSettings) -> dict[str, str]:
    """A results row as the page writes it."""
    dash = "—"
    return {
        "recency": dash if row.recency_days is None else str(row.recency_days),
        "frequency": str(row.frequency),
        "monetary": whole(row.monetary_cents),
        "R F M": dash if row.r is None else f"{row.r} {row.f} {row.m}",
        "ABC": row.abc_class or dash,
        "frequency class": row.frequency_class,
        "stage": row.lifecycle_stage,
        "value tier": row.value_tier,
        "tier rule": service.tier_rule(row, s) or dash,
        "RFM segment": row.rfm_segment or dash,
        "CLV": money(row.clv_predicted_cents),
    }


@pytest.fixture
def example(make_app):
    config = example_config()
    zone = ZoneInfo(config["kehu"]["timezone"])
    seg = {"recompute_interval_minutes": 0, **config["plugins"]["segmentation"]}
    app = make_app(enabled=("segmentation",), settings={"segmentation": seg}, config={"kehu": config["kehu"]})
    app.clock.set(dt.datetime(2026, 4, 2, 9, tzinfo=zone))
    names = [r["customer"] for r in table("worked-example:results")]

    async def seed():
        ids = {n: (await Customer.create(name=n)).id for n in names}
        for p in table("worked-example:purchases"):
            when = dt.datetime.strptime(p["time"], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
            await Interaction.create(
                customer_id=ids[p["customer"]],
                kind=InteractionKind.PURCHASE,
                occurred_at=when,
                amount=Decimal(p["amount"]),
            )
        return ids

    app.ids = app.run(seed)
    app.run(service.recompute_all, app.kehu)
    return app


def test_the_worked_example_is_what_the_code_computes(example):
    s = example.kehu.settings_for("segmentation", SegmentationSettings)

    async def load():
        by_id = {r.customer_id: r for r in await Classification.all()}
        return {name: by_id[i] for name, i in example.ids.items()}

    rows = example.run(load)
    computed = [{"customer": name, **render(rows[name], s)} for name in example.ids]
    documented = table("worked-example:results")
    # On a mismatch the message shows the table to paste into the page.
    as_markdown = "\n".join("| " + " | ".join(r.values()) + " |" for r in computed)
    assert documented == computed, "docs/plugins/segmentation.md, worked example, should read:\n" + as_markdown
    run = example.run(service.latest_run)
    assert run.as_of == example_config()["plugins"]["segmentation"]["as_of"]

    quoted = section("worked-example:explanation Dai")
    assert len(quoted) == 1 and quoted[0].startswith("> ")
    assert quoted[0][2:] == service.explain(rows["Dai"], run, s)


def setting_names(model, prefix: str = "") -> list[str]:
    """Every setting, sections' ones as ``section.name``."""
    from pydantic import BaseModel

    names = []
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            names += setting_names(kind, f"{prefix}{name}.")
        else:
            names.append(prefix + name)
    return names


def test_every_setting_is_documented():
    text = DOC.read_text(encoding="utf-8")
    missing = [n for n in setting_names(SegmentationSettings) if f"`{n}`" not in text]
    # Tier conditions and named RFM segments are lists of sections: their fields.
    conditions = ("min_r", "min_f", "min_m", "max_r", "abc_classes", "frequency_classes", "lifecycle_stages")
    missing += [f for f in conditions if f"`{f}`" not in text]
    assert missing == []


def test_every_rule_field_and_export_column_is_documented():
    from kehu.plugins.segmentation.service.export import COLUMNS
    from kehu.plugins.segmentation.service.rules import builtin_rule_fields

    text = DOC.read_text(encoding="utf-8")
    assert [f.name for f in builtin_rule_fields() if f"`{f.name}`" not in text] == []
    assert [c for c in COLUMNS if f"`{c}`" not in text] == []
    assert re.search(r"`segmentation\.model`", text) and re.search(r"`segmentation\.manage`", text)
