"""``kehu segments``: the plugin's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .service import recompute_all

if TYPE_CHECKING:
    from kehu import Kehu


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("segments", help="customer segmentation")
    what = p.add_subparsers(dest="segments_command", metavar="COMMAND", required=True)
    q = what.add_parser("recompute", help="recompute every customer's scores, classes and segments")
    q.set_defaults(handler=recompute_command)


async def recompute_command(kehu: Kehu, args) -> int:
    """``kehu segments recompute``."""
    result = await recompute_all(kehu)
    print(
        f"recomputed {result.customers} customers ({result.population} with purchases in the window), "
        f"{result.changes} changes recorded, in {result.seconds:.1f}s"
    )
    return 0
