"""``kehu segments`` and ``kehu export segments``: the plugin's commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import AbcClass, LifecycleStage, ValueTier
from .service import latest_run, recompute_all
from .service.export import FORMATS, ResultFilter, export_results

if TYPE_CHECKING:
    from kehu import Kehu


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("segments", help="customer segmentation")
    what = p.add_subparsers(dest="segments_command", metavar="COMMAND", required=True)
    q = what.add_parser("recompute", help="recompute every customer's scores, classes, CLV and segments")
    q.add_argument(
        "--as-of",
        type=_date,
        metavar="DATE",
        help="compute as of the end of DATE (YYYY-MM-DD) on the business calendar ([kehu] timezone): "
        "purchases after it are ignored, days are counted up to it (default: the as_of setting, else today)",
    )
    q.set_defaults(handler=recompute_command)
    q = what.add_parser(
        "model", help="the CLV model of the latest recompute: parameters, fit date, or why it fell back"
    )
    q.add_argument("--json", action="store_true", help="print the run's record as JSON")
    q.set_defaults(handler=model_command)


def add_export_commands(subparsers) -> None:
    q = subparsers.add_parser(
        "segments",
        help="export every customer's scores, classes, tier, stage and CLV (CSV, JSON Lines or XLSX)",
        description="One row per active customer, as of the date of their classification: " + ", ".join(_columns()),
    )
    q.add_argument("--format", choices=FORMATS, help="default: from the --output suffix, else csv")
    q.add_argument("--output", "-o", help="file to write (default: standard output; XLSX needs a file)")
    q.add_argument("--segment", metavar="KEY", help="only the members of this segment")
    q.add_argument("--value-tier", choices=[v.value for v in ValueTier], help="only customers of this value tier")
    q.add_argument(
        "--lifecycle-stage", choices=[v.value for v in LifecycleStage], help="only customers at this lifecycle stage"
    )
    q.add_argument("--abc-class", choices=[v.value for v in AbcClass], help="only customers of this ABC class")
    q.add_argument("--language", choices=["en", "zh-CN"], help="of the tier rule and explanation columns")
    q.set_defaults(handler=export_command)


def _columns() -> tuple[str, ...]:
    from .service.export import COLUMNS

    return COLUMNS


def describe_model(model: dict[str, Any]) -> str:
    """One line on the CLV model a run used."""
    if not model:
        return "CLV: no model recorded"
    if model.get("model") in ("pareto_nbd", "bg_nbd"):
        params = ", ".join(f"{k}={v:.4g}" for k, v in model["params"].items())
        spend = model.get("spend")
        spend_text = (
            "Gamma-Gamma " + ", ".join(f"{k}={v:.4g}" for k, v in spend.items())
            if spend
            else "each customer's own average"
        )
        return (
            f"CLV: {model['model']} fitted as of {model['as_of']} on {model.get('fit_customers', 0):,} customers "
            f"({params}; log-likelihood {model.get('log_likelihood')}); spend: {spend_text}; "
            f"horizon {model['horizon_days']} days, margin {model['margin']}, discount rate {model['discount_rate']}"
        )
    reason = model.get("fallback") or "chosen in the settings"
    return f"CLV: run-rate model ({reason}); horizon {model['horizon_days']} days"


async def recompute_command(kehu: Kehu, args) -> int:
    """``kehu segments recompute [--as-of DATE]``."""
    result = await recompute_all(kehu, as_of=args.as_of)
    print(
        f"recomputed {result.customers} customers as of {result.as_of} ({kehu.calendar.name}): "
        f"{result.population} with purchases in the window, {result.changes} changes recorded, "
        f"in {result.seconds:.1f}s"
    )
    print(describe_model(result.clv_model or {}))
    return 0


async def model_command(kehu: Kehu, args) -> int:
    """``kehu segments model``: the latest run's CLV model."""
    run = await latest_run()
    if run is None:
        print("no recompute has finished yet: run `kehu segments recompute`", file=sys.stderr)
        return 1
    if args.json:
        record = {
            "run": run.id,
            "as_of": run.as_of.isoformat() if run.as_of else None,
            "timezone": run.timezone,
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "customers": run.customers,
            "population": run.population,
            "clv_model": run.clv_model,
        }
        print(json.dumps(record, indent=2, ensure_ascii=False))
        return 0
    print(f"run {run.id} as of {run.as_of} ({run.timezone}), finished {run.finished_at:%Y-%m-%d %H:%M} UTC")
    print(describe_model(run.clv_model or {}))
    return 0


async def export_command(kehu: Kehu, args) -> int:
    """``kehu export segments``."""
    output = Path(args.output) if args.output else None
    format = args.format or (output.suffix.lstrip(".").lower() if output and output.suffix else "csv")
    if format not in FORMATS:
        print(f"--format: '{format}' is not one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    f = ResultFilter(
        segment=args.segment,
        value_tier=args.value_tier,
        lifecycle_stage=args.lifecycle_stage,
        abc_class=args.abc_class,
    )
    if output is None:
        if format == "xlsx":
            print("--output: an XLSX export needs a file (-o segments.xlsx)", file=sys.stderr)
            return 2
        n = await export_results(kehu, sys.stdout, format=format, filter=f, language=args.language)
    elif format == "xlsx":
        with output.open("wb") as out:
            n = await export_results(kehu, out, format=format, filter=f, language=args.language)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            n = await export_results(kehu, out, format=format, filter=f, language=args.language)
    print(f"exported {n:,} customer(s)", file=sys.stderr)
    return 0
