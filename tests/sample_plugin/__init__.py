"""A small plugin used by the tests, written only against kehu's public API:
stickers on customers (a model, a migration, a Customer field, a query, a
mutation, an event reaction, a permission and settings)."""

from pydantic import BaseModel, ConfigDict

from kehu import hookimpl
from kehu.access import Permission


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_stickers: int = 5
    sticker_on_purchase: str | None = None


@hookimpl
def kehu_plugin_info():
    return {"api": ">=1,<2", "description": "Stickers on customers (test plugin)"}


@hookimpl
def kehu_models():
    return {"models": ["sample_plugin.models"], "migrations": "sample_plugin.migrations"}


@hookimpl
def kehu_settings_model():
    return Settings


@hookimpl
def kehu_permissions():
    return [Permission("stickers.add", "Put stickers on customers", roles=("ADMIN", "MANAGER", "AGENT"))]


@hookimpl
def kehu_graphql(graphql):
    from .graphql import CustomerStickers, StickerMutations, StickerQueries

    graphql.extend("Customer", CustomerStickers)
    graphql.query(StickerQueries)
    graphql.mutation(StickerMutations)


@hookimpl
async def kehu_interaction_logged(interaction, kehu):
    from .models import Sticker

    label = kehu.settings_for("stickers").sticker_on_purchase
    if label and interaction.kind == "PURCHASE":
        await Sticker.create(customer_id=interaction.customer_id, label=label)
