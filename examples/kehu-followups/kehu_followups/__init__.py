"""Follow-up plans (定期回访): each customer can have a plan to be contacted every
so many days; owners see their due and overdue follow-ups; logging an interaction
moves the customer's next due date.

The plugin's whole contract with kehu. Rules are in ``service.py``, the GraphQL
surface in ``graphql.py``, the table in ``models.py``, the ``[plugins.followups]``
section in ``settings.py``.
"""

from kehu import hookimpl
from kehu.access import Permission

from . import service
from .settings import FollowUpSettings


@hookimpl
def kehu_plugin_info():
    return {"api": ">=1,<2", "description": "Follow-up plans: due and overdue follow-ups per owner"}


@hookimpl
def kehu_models():
    return {"models": ["kehu_followups.models"], "migrations": "kehu_followups.migrations"}


@hookimpl
def kehu_settings_model():
    return FollowUpSettings


@hookimpl
def kehu_permissions():
    return [
        Permission(service.PLAN, "Set and stop follow-up plans of visible customers", ("ADMIN", "MANAGER", "AGENT"))
    ]


@hookimpl
def kehu_graphql(graphql):
    from . import graphql as api

    api.register(graphql)


@hookimpl
async def kehu_interaction_logged(interaction, event_id, kehu):
    await service.interaction_logged(kehu, interaction, event_id)


@hookimpl
async def kehu_customer_created(customer, event_id, kehu):
    await service.customer_created(kehu, customer, event_id)


@hookimpl
async def kehu_customers_merged(survivor, merged):
    """Duplicate customers merged into one: their follow-up plans become one."""
    return await service.customers_merged(survivor.id, [c.id for c in merged])
