"""webhooks: every live event, signed (Standard Webhooks), to the endpoints admins
register — retried for about a day, logged, replayable.

The plugin's whole contract with the core. Rules are in ``service``, the GraphQL
surface in ``graphql``, the ``kehu webhooks`` commands in ``cli``.
"""

from kehu import hookimpl, jobs
from kehu.access import Permission

PRUNE_JOB = "webhooks.prune"


@hookimpl
def kehu_plugin_info():
    return {
        "api": ">=1,<2",
        "hookspecs": "kehu.plugins.webhooks.hookspecs",
        "description": "Signed webhooks (Standard Webhooks) for every event, with retries, a log and replays",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.webhooks.models"], "migrations": "kehu.plugins.webhooks.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import WebhookSettings

    return WebhookSettings


@hookimpl
def kehu_permissions():
    return [Permission("webhooks.manage", "Register webhook endpoints, read their log, replay deliveries", ("ADMIN",))]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as schema

    schema.register(graphql)


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl
async def kehu_event_published(event, event_id, kehu):
    from .service import fan_out

    # One set of deliveries per event (write_scope(event_id=...)).
    await fan_out(kehu, event, event_id)


@hookimpl
async def kehu_webhook_delivery_due(delivery, replay, kehu):
    from .service import attempt

    # Idempotent by the delivery's state: a delivered one is not sent again.
    await attempt(kehu, delivery, replay)


@hookimpl
def kehu_startup(kehu):
    from .service import prune

    jobs.every(kehu, PRUNE_JOB, 24 * 3600, lambda: prune(kehu))


@hookimpl
async def kehu_shutdown(kehu):
    await jobs.stop(kehu, PRUNE_JOB)
