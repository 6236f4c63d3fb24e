"""GraphQL subscriptions (graphql-transport-ws): live events, filtered per viewer."""

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Annotated, Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kehu.ids import to_global_id


@strawberry.type(
    description="Something happened to an object. Carries IDs and non-personal facts only: query the object for details."
)
class LiveEvent:
    topic: str = strawberry.field(description="e.g. customer.created, interaction.logged; plugins add their own")
    node_id: Optional[strawberry.ID] = strawberry.field(description="Global ID of the object concerned.")
    customer_id: Optional[strawberry.ID] = strawberry.field(description="The customer it concerns, if any.")
    data: JSON = strawberry.field(description="Facts about the event that name no person, e.g. the interaction's kind.")
    at: dt.datetime = strawberry.field(description="When it happened.")


@strawberry.type
class CoreSubscription:
    @strawberry.subscription(
        description="Live events about customers the viewer may see. `topics` narrows them: "
        '"customer" matches customer.created, customer.updated, …'
    )
    async def events(
        self,
        info: Info,
        topics: Annotated[
            Optional[list[str]], strawberry.argument(description="Topics or their prefixes; null: every event.")
        ] = None,
    ) -> AsyncGenerator[LiveEvent, None]:
        # Visibility is decided by the bus for all subscribers of an event at once,
        # with each one's viewer as it is when the event is dispatched.
        async with info.context.kehu.events.subscribe(topics, info.context.live_viewer) as queue:
            while True:
                event = await queue.get()
                yield LiveEvent(
                    topic=event.topic,
                    node_id=strawberry.ID(event.node_id) if event.node_id else None,
                    customer_id=strawberry.ID(to_global_id("Customer", event.customer_id))
                    if event.customer_id
                    else None,
                    data=event.data,
                    at=dt.datetime.fromisoformat(event.at),
                )
