from typing import Optional

import strawberry
from strawberry.types import Info

from kehu.access import of_visible_customers, visible_customers
from kehu.errors import NotFound, ValidationError
from kehu.schema import Payload, from_global_id
from kehu.writes import record_change

from .models import Sticker


@strawberry.type
class CustomerStickers:
    @strawberry.field(description="Stickers on this customer.")
    async def stickers(self, info: Info) -> list[str]:
        return [s.label for s in await Sticker.filter(customer_id=self.id).order_by("id")]


@strawberry.type
class StickerQueries:
    @strawberry.field
    async def sticker_count(self, info: Info) -> int:
        return await of_visible_customers(Sticker, info.context.viewer).count()


@strawberry.input
class AddStickerInput:
    customer_id: strawberry.ID
    label: str


@strawberry.type
class AddStickerPayload(Payload):
    customer: Optional["Customer"] = None


@strawberry.type
class StickerMutations:
    @strawberry.mutation
    async def add_sticker(self, info: Info, input: AddStickerInput) -> AddStickerPayload:
        viewer = info.context.viewer
        viewer.require("stickers.add")
        _, pk = from_global_id(input.customer_id, "Customer", field="customerId")
        customer = await visible_customers(viewer).filter(id=pk).first()
        if customer is None:
            raise NotFound("no such customer", field="customerId")
        if not input.label.strip():
            raise ValidationError("must not be empty", field="label", code="REQUIRED")
        limit = info.context.kehu.settings_for("stickers").max_stickers
        if await Sticker.filter(customer_id=pk).count() >= limit:
            raise ValidationError(f"at most {limit} stickers", field="label", code="TOO_MANY")
        sticker = await Sticker.create(customer_id=pk, label=input.label.strip())
        record_change("Sticker", sticker.id, {"label": (None, sticker.label)})
        return AddStickerPayload(customer=customer)
