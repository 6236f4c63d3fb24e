"""complaints: complaint cases with a workflow, SLA deadlines, escalation and follow-up.

The plugin's whole contract with the core. Domain rules are in ``service``,
the GraphQL surface in ``graphql``, settings in ``settings``.

Events: the plugin defines ``kehu_complaint_filed``, ``_transitioned``,
``_assigned``, ``_resolved`` and ``_escalated`` (see ``hookspecs``) and emits the
core's ``kehu_survey_requested`` when a case is resolved.
"""

from kehu import hookimpl
from kehu.access import Permission
from kehu.policies import free_text


@hookimpl
def kehu_plugin_info():
    return {
        "api": ">=1,<2",
        "hookspecs": "kehu.plugins.complaints.hookspecs",
        "description": "Complaint cases with a workflow, SLA deadlines, escalation and follow-up",
    }


@hookimpl
def kehu_models():
    return {"models": ["kehu.plugins.complaints.models"], "migrations": "kehu.plugins.complaints.migrations"}


@hookimpl
def kehu_settings_model():
    from .settings import ComplaintsSettings

    return ComplaintsSettings


@hookimpl
def kehu_permissions():
    return [
        Permission("complaints.file", "File complaints for visible customers", ("ADMIN", "MANAGER", "AGENT")),
        Permission(
            "complaints.handle", "Move complaints through the workflow and add notes", ("ADMIN", "MANAGER", "AGENT")
        ),
        Permission("complaints.assign", "Assign complaints to account owners", ("ADMIN", "MANAGER")),
    ]


@hookimpl
def kehu_field_policies():
    # What the customer said, and what staff wrote about it, is free text
    # (kehu.policies.free_text); analysts get the figures, not the words.
    return [
        free_text("Complaint", "description", "complaints.Complaint.description"),
        free_text("Complaint", "keyPoints", "complaints.Complaint.key_points"),
        free_text("Complaint", "resolution", "complaints.Complaint.resolution"),
        free_text("Complaint", "rejectionReason", "complaints.Complaint.rejection_reason"),
        free_text("Complaint", "escalationReason", "complaints.Complaint.escalation_reason"),
        free_text("ComplaintTimelineEntry", "note", "complaints.ComplaintTimelineEntry.note"),
    ]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as schema

    schema.register(graphql)


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """Complaints, with their timelines, move to the survivor."""
    from .service.merging import merge_cases

    return await merge_cases(survivor.id, [c.id for c in merged])


@hookimpl
def kehu_commands(subparsers):
    from .cli import add_commands

    add_commands(subparsers)


@hookimpl
def kehu_startup(kehu):
    from .service import start_scheduler

    start_scheduler(kehu)


@hookimpl
async def kehu_shutdown(kehu):
    from .service import stop_scheduler

    await stop_scheduler(kehu)


@hookimpl
async def kehu_bulk_loaded(reason, customer_ids, kehu):
    """``kehu demo``: add demo complaints to the demo customers."""
    if reason == "demo":
        from .demo import seed_complaints

        await seed_complaints(kehu, customer_ids)


@hookimpl(optionalhook=True)
def kehu_console_messages():
    """The console's texts for this plugin's vocabulary and panels (messages/<language>.json)."""
    from pathlib import Path

    from kehu.i18n import read_catalogues

    return read_catalogues(Path(__file__).parent / "messages")
