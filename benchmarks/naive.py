"""The naive implementation: what a straightforward strawberry + Tortoise API does.

Resolvers query the ORM where they stand (``await AccountOwner.get(...)`` per
customer: N+1), no DataLoaders, no parser or validation cache, strawberry's
default JSON encoder. Same documents, same JSON answers as kehu. It is here to
show what kehu's design buys, not as a straw man: this is how the strawberry and
Tortoise tutorials read.
"""

# No `from __future__ import annotations`: strawberry resolves these local classes eagerly.

import contextlib
import hashlib
from types import SimpleNamespace
from typing import Optional

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.types import Info

from .floor import TIER_BASE, cursor, gid


def build_app(url: str, plugins: tuple[str, ...]) -> tuple[Starlette, object]:
    from kehu.config import parse_config
    from kehu.models import AccessToken, AccountOwner, Customer, Interaction
    from kehu.server.runtime import Kehu

    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": list(plugins)}}))

    @strawberry.type(name="AccountOwner")
    class OwnerType:
        name: str

        @strawberry.field
        def id(self) -> strawberry.ID:
            return strawberry.ID(gid("AccountOwner", self.id))

    @strawberry.type(name="Interaction")
    class InteractionType:
        kind: str
        occurred_at: str
        amount: Optional[str]
        subject: str

        @strawberry.field
        def id(self) -> strawberry.ID:
            return strawberry.ID(gid("Interaction", self.id))

    @strawberry.type
    class InteractionEdge:
        node: InteractionType

    @strawberry.type
    class InteractionConnection:
        edges: list[InteractionEdge]

    @strawberry.type
    class Tier:
        name: str

    @strawberry.type
    class Loyalty:
        balance: int
        tier: Tier

    @strawberry.type
    class Segmentation:
        value_tier: str

    @strawberry.type
    class Counted:
        total_count: int

    @strawberry.type(name="Customer")
    class CustomerType:
        name: str
        email: Optional[str]
        phone: Optional[str]
        region: Optional[str]

        @strawberry.field
        def id(self) -> strawberry.ID:
            return strawberry.ID(gid("Customer", self.id))

        @strawberry.field
        async def owner(self) -> Optional[OwnerType]:
            return await AccountOwner.get_or_none(id=self.owner_id) if self.owner_id else None

        @strawberry.field
        async def interactions(self, first: int = 20) -> InteractionConnection:
            rows = await Interaction.filter(customer_id=self.id).order_by("-occurred_at", "-id").limit(first)
            return InteractionConnection(
                edges=[
                    InteractionEdge(
                        node=SimpleNamespace(
                            id=r.id,
                            kind=r.kind.value,
                            occurred_at=r.occurred_at.isoformat(),
                            amount=None if r.amount is None else str(r.amount),
                            subject=r.subject,
                        )
                    )
                    for r in rows
                ]
            )

        if "loyalty" in plugins:

            @strawberry.field
            async def loyalty(self) -> Loyalty:
                from kehu.plugins.loyalty.models import LoyaltyAccount

                account = await LoyaltyAccount.get_or_none(customer_id=self.id)
                if account is None:
                    return Loyalty(balance=0, tier=Tier(name=TIER_BASE))
                return Loyalty(balance=account.balance, tier=Tier(name=account.tier))

        if "segmentation" in plugins:

            @strawberry.field
            async def segmentation(self) -> Optional[Segmentation]:
                from kehu.plugins.segmentation.models import Classification

                row = await Classification.get_or_none(customer_id=self.id)
                return None if row is None else Segmentation(value_tier=row.value_tier)

        if "complaints" in plugins:

            @strawberry.field
            async def complaints(self, first: int = 20) -> Counted:
                from kehu.plugins.complaints.models import Complaint

                return Counted(total_count=await Complaint.filter(customer_id=self.id).count())

        if "surveys" in plugins:

            @strawberry.field
            async def survey_responses(self, first: int = 20) -> Counted:
                from kehu.plugins.surveys.models import Response

                return Counted(total_count=await Response.filter(customer_id=self.id).count())

    @strawberry.type
    class PageInfo:
        has_next_page: bool
        end_cursor: Optional[str]

    @strawberry.type
    class CustomerEdge:
        node: CustomerType

    @strawberry.type
    class CustomerConnection:
        page_info: PageInfo
        edges: list[CustomerEdge]

    @strawberry.type
    class Query:
        @strawberry.field
        async def me(self, info: Info) -> Optional[OwnerType]:
            return info.context["viewer"]

        @strawberry.field
        async def customers(self, info: Info, first: int = 20) -> CustomerConnection:
            if info.context["viewer"] is None:
                raise PermissionError("sign in first")
            rows = await Customer.filter(archived_at__isnull=True).order_by("created_at", "id").limit(first + 1)
            edges = [CustomerEdge(node=r) for r in rows[:first]]
            return CustomerConnection(
                page_info=PageInfo(
                    has_next_page=len(rows) > first, end_cursor=cursor(len(edges) - 1) if edges else None
                ),
                edges=edges,
            )

    schema = strawberry.Schema(query=Query)

    class View(GraphQL):
        async def get_context(self, request, response):
            token = request.headers.get("authorization", "").partition(" ")[2].strip()
            row = (
                await AccessToken.filter(token_hash=hashlib.sha256(token.encode()).hexdigest(), revoked_at=None)
                .select_related("owner")
                .first()
            )
            return {"viewer": row.owner if row and row.owner.active else None, "request": request}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await kehu.connect(check=False)
        try:
            yield
        finally:
            await kehu.disconnect()

    return Starlette(
        routes=[Route("/graphql", View(schema, graphql_ide=None), methods=["POST"])], lifespan=lifespan
    ), None
