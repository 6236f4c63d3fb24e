"""The segmentation plugin: RFM, ABC, frequency class, value tier, lifecycle stage
and CLV per customer, rule-based and static segments, with explanations and
history. The rules are in ``service``; this module is its contract with the core."""

from kehu import hookimpl
from kehu.access import Permission
from kehu.models import InteractionKind


@hookimpl
def kehu_plugin_info():
    return {
        "description": "RFM, ABC, value tiers, lifecycle stages, CLV and rule-based segments",
        "api": ">=1,<2",
        "hookspecs": "kehu.plugins.segmentation.hookspecs",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.segmentation.models"], "migrations": "kehu.plugins.segmentation.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import SegmentationSettings

    return SegmentationSettings


@hookimpl
def kehu_permissions():
    return [
        Permission("segmentation.manage", "Create, change and delete segments", ("ADMIN", "MANAGER")),
        Permission(
            "segmentation.model",
            "See each recompute run and the CLV model it fitted (parameters, fit date, fallback)",
            ("ADMIN", "ANALYST"),
            read=True,
        ),
    ]


@hookimpl
def kehu_graphql(graphql):
    from .graphql import register

    register(graphql)


# --------------------------------------------------------------------------- events: re-score one customer
# Each handler recomputes from the data as it is and records only changes, so a
# repeated delivery of an event (same event_id) changes nothing: idempotent by nature.


@hookimpl
async def kehu_interaction_logged(interaction, kehu):
    if interaction.kind == InteractionKind.PURCHASE:
        from .service import recompute_customer

        await recompute_customer(kehu, interaction.customer_id, "INTERACTION")


@hookimpl
async def kehu_customer_created(customer, kehu):
    from .service import recompute_customer

    await recompute_customer(kehu, customer.id, "CUSTOMER_CHANGE")


@hookimpl
async def kehu_customer_updated(customer, kehu):
    from .service import recompute_customer

    await recompute_customer(kehu, customer.id, "CUSTOMER_CHANGE")


@hookimpl
async def kehu_customer_archived(customer, kehu):
    from .service import recompute_customer

    await recompute_customer(kehu, customer.id, "CUSTOMER_CHANGE")


@hookimpl
async def kehu_owner_assigned(customer, kehu):
    from .service import recompute_customer

    await recompute_customer(kehu, customer.id, "CUSTOMER_CHANGE")


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """Memberships and history move; the survivor is re-scored after the commit
    (kehu_customer_updated, above)."""
    from .service.merging import merge_classified

    return await merge_classified(survivor.id, [c.id for c in merged])


@hookimpl
async def kehu_bulk_loaded(reason, customer_ids, kehu):
    """An import or the demo wrote many records at once, without an event each:
    the customers it wrote are re-scored together (a load that is a large part of
    the base, or names no customers, recomputes everything), and the history rows
    (cause ``IMPORT``, ``DEMO``) show each one's state before the load and after it."""
    from .service import recompute_loaded

    await recompute_loaded(kehu, customer_ids, reason.upper()[:40])


@hookimpl
async def kehu_segment_members(segment_key, viewer, kehu):
    from .service import segment_member_ids

    return await segment_member_ids(segment_key, viewer)


# --------------------------------------------------------------------------- lifecycle and CLI


@hookimpl
def kehu_startup(kehu):
    from .service import start_scheduler

    start_scheduler(kehu)


@hookimpl
async def kehu_shutdown(kehu):
    from .service import stop_scheduler

    await stop_scheduler(kehu)


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl
def kehu_export_commands(subparsers):
    from .cli import add_export_commands

    add_export_commands(subparsers)


@hookimpl(optionalhook=True)
def kehu_console_messages():
    """The console's texts for this plugin's vocabulary and panels (messages/<language>.json)."""
    from pathlib import Path

    from kehu.i18n import read_catalogues

    return read_catalogues(Path(__file__).parent / "messages")
