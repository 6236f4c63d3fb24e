"""``kehu webhooks``: register endpoints, read the delivery log, replay."""

from kehu.errors import KehuError
from kehu.writes import write_scope

from . import service
from .models import DeliveryStatus


def add_commands(subparsers) -> None:
    parser = subparsers.add_parser("webhooks", help="webhook endpoints and their delivery log")
    commands = parser.add_subparsers(dest="webhooks_command", metavar="ACTION", required=True)
    q = commands.add_parser("list", help="registered endpoints")
    q.set_defaults(handler=_list)
    q = commands.add_parser("add", help="register an endpoint; prints its signing secret (once)")
    q.add_argument("url", help="where deliveries are POSTed (https://…)")
    q.add_argument("--topic", action="append", required=True, help="a topic, a prefix or *; repeat for more")
    q.add_argument("--description", default="", help="a note for admins: what receives these")
    q.add_argument("--role", choices=["ADMIN", "ANALYST"], help="payloads carry this role's view of the object")
    q.set_defaults(handler=_add)
    for name, active in (("enable", True), ("disable", False)):
        q = commands.add_parser(name, help=f"{name} an endpoint")
        q.add_argument("id", type=int, help="the endpoint's id (as `kehu webhooks list` shows it)")
        q.set_defaults(handler=_switch, active=active)
    q = commands.add_parser("rotate-secret", help="a new secret; the old one signs too for --keep-hours")
    q.add_argument("id", type=int, help="the endpoint's id (as `kehu webhooks list` shows it)")
    q.add_argument(
        "--keep-hours", type=float, default=24, help="hours the old secret keeps signing too (default: %(default)s)"
    )
    q.set_defaults(handler=_rotate)
    q = commands.add_parser("deliveries", help="the delivery log, newest first")
    q.add_argument("--endpoint", type=int, help="only this endpoint's deliveries (its id)")
    q.add_argument("--status", choices=[s.value for s in DeliveryStatus], help="only deliveries in this state")
    q.add_argument("--limit", type=int, default=20, help="at most this many (default: %(default)s)")
    q.set_defaults(handler=_deliveries)
    q = commands.add_parser("replay", help="send a delivery again, with the same webhook-id")
    q.add_argument("id", type=int, help="the delivery's id (as `kehu webhooks deliveries` shows it)")
    q.set_defaults(handler=_replay)


def _fail(exc: KehuError) -> int:
    print(f"kehu: error: {exc.field + ': ' if exc.field else ''}{exc.message}")
    return 1


async def _list(kehu, args):
    for e in await service.list_endpoints(None):
        role = f" role={e.role}" if e.role else ""
        print(f"{e.id:>4}  {'on ' if e.active else 'off'}  {e.url}  topics={','.join(e.topics)}{role}  {e.description}")
    return 0


async def _add(kehu, args):
    data = {"url": args.url, "topics": args.topic, "description": args.description, "role": args.role}
    try:
        async with write_scope(kehu, None, "createWebhookEndpoint", actor_label="kehu webhooks add"):
            endpoint = await service.create_endpoint(kehu, None, data)
    except KehuError as exc:
        return _fail(exc)
    print(f"endpoint {endpoint.id}: {endpoint.url}")
    print(f"signing secret (shown once): {endpoint.secret}")
    return 0


async def _switch(kehu, args):
    try:
        async with write_scope(kehu, None, "updateWebhookEndpoint", actor_label="kehu webhooks"):
            endpoint = await service.update_endpoint(kehu, None, args.id, {"active": args.active})
    except KehuError as exc:
        return _fail(exc)
    print(f"endpoint {endpoint.id} is {'on' if endpoint.active else 'off'}")
    return 0


async def _rotate(kehu, args):
    try:
        async with write_scope(kehu, None, "rotateWebhookSecret", actor_label="kehu webhooks rotate-secret"):
            endpoint = await service.rotate_secret(kehu, None, args.id, args.keep_hours)
    except KehuError as exc:
        return _fail(exc)
    print(f"new signing secret (shown once): {endpoint.secret}")
    if endpoint.previous_secret_expires_at:
        print(f"the previous one signs too until {endpoint.previous_secret_expires_at.isoformat()}")
    return 0


async def _deliveries(kehu, args):
    status = DeliveryStatus(args.status) if args.status else None
    for d in await service.deliveries(None, args.endpoint, status, args.limit):
        code = d.last_status_code if d.last_status_code is not None else "-"
        print(f"{d.id:>6}  {d.status.value:<9}  {d.topic:<28}  tries={d.attempts}  last={code}  {d.message_id}")
    return 0


async def _replay(kehu, args):
    try:
        async with write_scope(kehu, None, "replayWebhookDelivery", actor_label="kehu webhooks replay"):
            delivery = await service.replay(kehu, None, args.id)
    except KehuError as exc:
        return _fail(exc)
    print(f"delivery {delivery.id} ({delivery.message_id}) queued again")
    return 0
