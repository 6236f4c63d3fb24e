"""GraphQL of the masking plugin: the field extension every personal field gets,
``revealField``, ``disclosureLog`` and the ``Disclosure`` type.

No ``from __future__ import annotations``: it breaks strawberry's lazy types.
"""

import datetime as dt
import json
from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kehu.access import require_viewer
from kehu.policies import FieldPolicy, Strategy
from kehu.schema import (
    Connection,
    ModelNode,
    Payload,
    ValueTransform,
    from_global_id,
    paginate,
)

from . import models, service


class MaskedField(ValueTransform):
    """Shows a personal field as the viewer may see it. Installed only on fields
    with a policy (compiled at start-up), so no other field pays for it; a value
    transform, so a masked field is still read on the executor's fast path."""

    def __init__(self, policy: FieldPolicy):
        self.key = policy.key
        self.owner_aware = policy.type_name == "Customer"
        self._masking: Any = None
        self._compiled: Any = None

    def transform(self, source: Any, context: Any, value: Any) -> Any:
        masking = self._masking
        if masking is None:
            masking = self._masking = context.kehu.field_guard
            self._compiled = masking.policies[self.key]
        viewer = context.viewer
        if viewer is None:
            strategy = Strategy.REDACT
        else:
            strategy = self._compiled.for_role(viewer.role.value)
            if (
                strategy is not Strategy.CLEAR
                and self.owner_aware
                and masking.settings.owner_sees_clear
                and getattr(source, "owner_id", None) == viewer.id
            ):
                strategy = Strategy.CLEAR
        return masking.show(strategy, self._compiled, value)


def enforce(policy: FieldPolicy, field: Any) -> list[ValueTransform]:
    return [MaskedField(policy)]


# --------------------------------------------------------------------------- types


@strawberry.type(description="One reveal of a masked personal field in clear (append-only).")
class Disclosure(ModelNode, model=models.Disclosure):
    at: dt.datetime = strawberry.field(description="When it was revealed.")
    actor_label: str = strawberry.field(description="Who revealed it, as they were then.")
    field: str = strawberry.field(description="The policy key revealed, e.g. Customer.phone.")
    reason: str = strawberry.field(description="Why, in the words of who revealed it.")
    request_id: Optional[str] = strawberry.field(description="The request's id, also in the server's log.")

    @strawberry.field(description="Who revealed it (null if no longer visible to the viewer).")
    async def actor(self, info: Info) -> Optional["AccountOwner"]:
        return await info.context.loaders.owner.load(self.actor_id)

    @strawberry.field(description="Whose field it was (null if no longer visible to the viewer).")
    async def customer(self, info: Info) -> Optional["Customer"]:
        return await info.context.loaders.customer.load(self.customer_id)


@strawberry.input(description="A personal field of a customer to see in clear, and why.")
class RevealFieldInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    field: str = strawberry.field(
        description="A personal field of Customer: phone, email, name, address, attributes.<key>."
    )
    reason: Optional[str] = strawberry.field(default=None, description="Why you need the clear value (required).")


@strawberry.type(description="The clear value and the disclosure recorded for it, or why not.")
class RevealFieldPayload(Payload):
    value: Optional[str] = strawberry.field(
        default=None, description="The clear value (JSON text for non-text attributes)."
    )
    disclosure: Optional[Disclosure] = strawberry.field(default=None, description="The record of this reveal.")


@strawberry.input(description="Narrows the disclosure log; all conditions must hold.")
class DisclosureFilterInput:
    customer_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Reveals of this customer's fields."
    )
    actor_id: Optional[strawberry.ID] = strawberry.field(default=None, description="Reveals by this account owner.")


@strawberry.type
class MaskingQuery:
    @strawberry.field(description="Reveals of personal fields, newest first (admins).")
    async def disclosure_log(
        self,
        info: Info,
        first: Optional[int] = None,
        after: Optional[str] = None,
        filter: Optional[DisclosureFilterInput] = None,
        last: Optional[int] = None,
        before: Optional[str] = None,
    ) -> Connection[Disclosure]:
        require_viewer(info.context.viewer).require("masking.disclosures.read")
        qs = models.Disclosure.all()
        if filter is not None:
            if filter.customer_id is not None:
                qs = qs.filter(customer_id=from_global_id(filter.customer_id, "Customer", field="filter.customerId")[1])
            if filter.actor_id is not None:
                qs = qs.filter(actor_id=from_global_id(filter.actor_id, "AccountOwner", field="filter.actorId")[1])
        return await paginate(qs, first, after, last=last, before=before, order_by=("-id",))


@strawberry.type
class MaskingMutation:
    @strawberry.mutation(
        description="Show one personal field of a customer in clear, with a reason; "
        "rate-limited and recorded in the disclosure log."
    )
    async def reveal_field(self, info: Info, input: RevealFieldInput) -> RevealFieldPayload:
        ctx = info.context
        customer_id = from_global_id(input.customer_id, "Customer", field="customerId")[1]
        value, disclosure = await service.reveal_field(
            ctx.kehu, require_viewer(ctx.viewer), customer_id, input.field, input.reason, request_id=ctx.request_id
        )
        if value is not None and not isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        return RevealFieldPayload(value=value, disclosure=disclosure)


async def resolve_disclosure_node(info: Info, pk: int):
    viewer = info.context.viewer
    if viewer is None or not viewer.can("masking.disclosures.read"):
        return None
    return await models.Disclosure.get_or_none(id=pk)


def register(graphql) -> None:
    graphql.enforce_field_policies(enforce)
    graphql.query(MaskingQuery)
    graphql.mutation(MaskingMutation)
    graphql.types(Disclosure)
    graphql.node("Disclosure", resolve_disclosure_node)
