"""``kehu complaints``: the plugin's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kehu import Kehu


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("complaints", help="complaint cases")
    commands = parser.add_subparsers(dest="complaints_command", metavar="COMMAND", required=True)
    check = commands.add_parser(
        "check-sla", help="record missed deadlines and escalate breached or nearly breached cases"
    )
    check.set_defaults(handler=check_sla_command)


async def check_sla_command(kehu: Kehu, args: Any) -> int:
    """``kehu complaints check-sla``: one round of ``check_sla``, summarised."""
    from .service import check_sla  # here: `kehu --help` need not load the service

    result = await check_sla(kehu)
    print(
        f"{len(result.breaches)} deadline(s) newly missed, {len(result.escalated)} case(s) escalated"
        f" ({len(result.reassigned)} reassigned)"
    )
    return 0
