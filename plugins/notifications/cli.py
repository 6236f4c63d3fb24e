"""``kehu notifications``: the message log, a test message, the digest now."""

from kehu.errors import KehuError
from kehu.writes import write_scope

from . import service
from .models import Message, MessageStatus


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("notifications", help="messages: the log, a test e-mail, the digest")
    commands = parser.add_subparsers(dest="notifications_command", metavar="ACTION", required=True)
    q = commands.add_parser("log", help="messages, newest first")
    q.add_argument("--status", choices=[s.value for s in MessageStatus], help="only messages in this state")
    q.add_argument("--limit", type=int, default=20, help="at most this many (default: %(default)s)")
    q.set_defaults(handler=_log)
    q = commands.add_parser("test", help="send a test e-mail to ADDRESS (checks the SMTP settings)")
    q.add_argument("address", help="the e-mail address to send the test message to")
    q.add_argument(
        "--language", choices=["zh-CN", "en"], default="zh-CN", help="the message's language (default: %(default)s)"
    )
    q.set_defaults(handler=_test)
    q = commands.add_parser("digest", help="queue today's follow-up digests now (once per agent and day)")
    q.set_defaults(handler=_digest)


async def _log(kehu, args):
    query = Message.all()
    if args.status:
        query = query.filter(status=MessageStatus(args.status))
    for m in await query.order_by("-id").limit(args.limit):
        when = (m.sent_at or m.created_at).isoformat(timespec="seconds")
        print(f"{m.id:>6}  {m.status.value:<7}  {m.channel:<6}  {m.template:<24}  {m.address:<30}  {when}  {m.error}")
    return 0


async def _test(kehu, args):
    try:
        async with write_scope(kehu, None, "sendTestNotification", actor_label="kehu notifications test"):
            message = await service.queue_test(kehu, args.address, args.language)
    except KehuError as exc:
        print(f"kehu: error: {exc.message}")
        return 1
    await kehu.outbox.run_once()
    message = await Message.get(id=message.id)
    print(f"test message to {message.address}: {message.status.value} {message.error}".rstrip())
    return 0 if message.status is MessageStatus.SENT else 1


async def _digest(kehu, args):
    queued = await service.send_digests(kehu)
    await kehu.outbox.run_once()
    print(f"{queued} digest message(s) queued")
    return 0
