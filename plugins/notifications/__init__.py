"""notifications: e-mail (and any channel a plugin adds) for what people must hear
of — survey invitations to customers, complaint escalations and missed deadlines
to the people responsible, a daily digest of each agent's follow-ups — sent
through the outbox, rate-limited, every message logged.

The plugin's whole contract with the core. Rules are in ``service``, the GraphQL
surface in ``graphql``, the ``kehu notifications`` commands in ``cli``.
"""

from kehu import hookimpl, jobs
from kehu.access import Permission

DIGEST_JOB = "notifications.digest"
PRUNE_JOB = "notifications.prune"


@hookimpl
def kehu_plugin_info():
    return {
        "api": ">=1,<2",
        "hookspecs": "kehu.plugins.notifications.hookspecs",
        "description": "E-mail notifications (other channels by plugin): invitations, escalations, digests",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.notifications.models"], "migrations": "kehu.plugins.notifications.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import NotificationSettings

    return NotificationSettings


@hookimpl
def kehu_permissions():
    return [
        Permission("notifications.read", "Read the log of messages sent", ("ADMIN",), read=True),
        Permission("notifications.test", "Send a test message", ("ADMIN",)),
    ]


@hookimpl
def kehu_field_policies():
    from kehu.policies import FieldPolicy, Strategy, free_text

    # The log copies what it sends: a customer's e-mail address, and subjects that
    # name the customer. Shown no more openly than where they came from.
    staff = {"ADMIN": Strategy.CLEAR, "MANAGER": Strategy.CLEAR, "AGENT": Strategy.CLEAR}
    return [
        FieldPolicy(
            "NotificationMessage",
            "address",
            kind="email",
            roles={**staff, "ANALYST": Strategy.PARTIAL},
            columns=("notifications.Message.address",),
        ),
        free_text("NotificationMessage", "subject", "notifications.Message.subject"),
    ]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as schema

    schema.register(graphql)


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """The message log follows the person: the merged customers' messages move."""
    from .service.merging import merge_recipients

    return await merge_recipients(survivor.id, [c.id for c in merged])


@hookimpl
def kehu_notification_templates():
    from .service import BUILTIN

    return BUILTIN


# Each reaction below queues its messages once per event (write_scope(event_id=...));
# a queued message is sent once (its state), whatever is delivered twice.


# optionalhook: these hooks exist only while the surveys / complaints plugin is
# enabled; without it, nothing calls them.
@hookimpl(optionalhook=True)
async def kehu_survey_invitation_created(invitation, survey, customer, link, event_id, kehu):
    from .service import survey_invitation

    await survey_invitation(kehu, invitation, survey, customer, link, event_id)


@hookimpl(optionalhook=True)
async def kehu_complaint_escalated(complaint, reason, event_id, kehu):
    from .service import complaint_escalated

    await complaint_escalated(kehu, complaint, reason, event_id)


@hookimpl
async def kehu_event_published(event, event_id, kehu):
    from .service import event_published

    await event_published(kehu, event, event_id)


@hookimpl
async def kehu_notification_requested(template, owner_ids, customer_ids, context, event_id, kehu):
    from .service import requested

    await requested(kehu, template, owner_ids, customer_ids, context, event_id)


@hookimpl
async def kehu_notification_queued(message, kehu):
    from .service import send

    await send(kehu, message)


@hookimpl
def kehu_startup(kehu):
    from .service import offset_seconds, prune, send_digests

    offset = offset_seconds(kehu)
    if offset is not None:  # daily, at digest_at in the plugin's time zone; one worker sends
        jobs.every(kehu, DIGEST_JOB, 24 * 3600, lambda: send_digests(kehu), offset=offset)
    jobs.every(kehu, PRUNE_JOB, 24 * 3600, lambda: prune(kehu))


@hookimpl
async def kehu_shutdown(kehu):
    await jobs.stop(kehu, DIGEST_JOB)
    await jobs.stop(kehu, PRUNE_JOB)
