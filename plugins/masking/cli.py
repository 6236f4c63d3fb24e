"""``kehu masking``: the plugin's commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kehu import Kehu


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("masking", help="encryption keys and encrypted fields")
    commands = parser.add_subparsers(dest="masking_command", metavar="COMMAND", required=True)
    for name, text in (
        ("encrypt-existing", "encrypt clear values of the encrypted fields (batches)"),
        ("rotate-key", "re-encrypt everything with KEHU_MASKING_KEY; previous keys stay readable meanwhile"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("--batch-size", type=int, default=500, help="rows per transaction (default: %(default)s)")
        p.set_defaults(handler=_reseal_command)


async def _reseal_command(kehu: Kehu, args) -> int:
    from .service import reseal  # here: `kehu --help` need not load the service

    counts = await reseal(kehu, batch_size=max(1, args.batch_size))
    print(
        f"{counts['customers']} customers, {counts['audit_entries']} audit entries and"
        f" {counts['outbox_events']} outbox events re-encrypted"
    )
    if args.masking_command == "rotate-key":
        print("every value is now encrypted with the current key: KEHU_MASKING_PREVIOUS_KEYS may be removed")
    return 0
