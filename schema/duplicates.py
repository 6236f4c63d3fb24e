"""Duplicate customers in GraphQL: the review list (``duplicateCandidates``),
dismissing and reopening a candidate, and ``mergeCustomers``.

The rules are in ``kehu.duplicates`` and ``kehu.merges``; this module only
translates. No ``from __future__ import annotations``: strawberry's lazy types.
"""

import datetime as dt
from enum import Enum
from typing import Annotated, Optional

import strawberry
from strawberry.types import Info

from kehu import duplicates as duplicate_service
from kehu import merges as merge_service
from kehu import models
from kehu.access import require_viewer
from kehu.customers import resolve_customer_ids
from kehu.ids import pk_from_global_id, pks_from_global_ids, to_global_id

from . import relay
from .batch import batch_field
from .limits import max_items
from .registry import GraphQLRegistry
from .relay import Connection, ModelNode
from .types import Payload


@strawberry.enum(description="Why two customers look like one customer.")
class DuplicateReason(Enum):
    SAME_EMAIL = strawberry.enum_value("SAME_EMAIL", description="The same e-mail address, whatever its letter case.")
    SIMILAR_EMAIL = strawberry.enum_value(
        "SIMILAR_EMAIL", description="E-mail addresses one typo apart (a letter changed, added, dropped or swapped)."
    )
    SAME_PHONE = strawberry.enum_value("SAME_PHONE", description="The same phone number, however it is written.")
    SIMILAR_PHONE = strawberry.enum_value("SIMILAR_PHONE", description="Phone numbers one digit wrong or two swapped.")
    SAME_NAME = strawberry.enum_value(
        "SAME_NAME", description="The same name (letter case, spacing and word order aside)."
    )
    SAME_NAME_PINYIN = strawberry.enum_value(
        "SAME_NAME_PINYIN",
        description="One name in hanzi, the other in pinyin, and they read alike (张伟 / Zhang Wei).",
    )
    SIMILAR_NAME = strawberry.enum_value("SIMILAR_NAME", description="Names one typo apart.")
    SAME_REGION = strawberry.enum_value(
        "SAME_REGION", description="The same region, however written (上海, 上海市, Shanghai)."
    )
    SAME_ADDRESS = strawberry.enum_value("SAME_ADDRESS", description="The same address, or one typo apart.")
    SAME_COMPANY = strawberry.enum_value("SAME_COMPANY", description="The same company (attributes.company).")


@strawberry.enum(description="Where a duplicate candidate stands.")
class DuplicateStatus(Enum):
    OPEN = strawberry.enum_value("OPEN", description="Waiting for someone to merge the two, or dismiss the pair.")
    DISMISSED = strawberry.enum_value(
        "DISMISSED", description="Decided: not one customer. Never proposed again, by a scan or a later write."
    )


@strawberry.enum(description="How a duplicate candidate was found.")
class DuplicateSource(Enum):
    SCAN = strawberry.enum_value("SCAN", description="By `kehu dedupe scan` over the whole base.")
    ENTRY = strawberry.enum_value(
        "ENTRY",
        description="When one of the two was created or changed: likely duplicates, and exact ones the person "
        "writing could not see (they were told nothing; the pair waits here for someone who may see both).",
    )
    IMPORT = strawberry.enum_value(
        "IMPORT", description="By an import that created a customer although another had its e-mail or phone."
    )


@strawberry.type(
    description="Two customers that may be one person or organisation: merge them (mergeCustomers) or dismiss "
    "the pair. Shown only to viewers who may see both customers."
)
class DuplicateCandidate(ModelNode, model=models.DuplicatePair):
    score: int = strawberry.field(
        description="0-100: how likely the two are one customer, in per cent (50 and above: a candidate)."
    )
    found_at: dt.datetime = strawberry.field(description="When the pair was found (or last found by a scan).")
    decided_at: Optional[dt.datetime] = strawberry.field(description="When the pair was dismissed.")
    note: str = strawberry.field(description="Why the pair was dismissed, as its decider wrote it.")

    @batch_field(description="The two customers, the older record first.", metadata=max_items(2))
    async def customers(candidates: list["DuplicateCandidate"], info: Info) -> list[list["Customer"]]:
        ids = [pk for pair in candidates for pk in (pair.customer_a_id, pair.customer_b_id)]
        found = await info.context.loaders.customers_by_id(ids)
        return [
            [c for c in (found.get(pair.customer_a_id), found.get(pair.customer_b_id)) if c is not None]
            for pair in candidates
        ]

    @strawberry.field(description="Why the two look like one customer, strongest evidence first.")
    def reasons(self) -> list[DuplicateReason]:
        known = {r.value for r in DuplicateReason}
        return [DuplicateReason(r) for r in self.reasons or [] if r in known]

    @strawberry.field(description="Whether the pair still waits for a decision.")
    def status(self) -> DuplicateStatus:
        return DuplicateStatus(getattr(self.status, "value", self.status))

    @strawberry.field(description="How the pair was found.")
    def source(self) -> DuplicateSource:
        return DuplicateSource(getattr(self.source, "value", self.source))

    @batch_field(description="Who dismissed the pair.")
    async def decided_by(candidates: list["DuplicateCandidate"], info: Info) -> list[Optional["AccountOwner"]]:
        owners = await info.context.loaders.owners_by_id([c.decided_by_id for c in candidates])
        return [owners.get(c.decided_by_id) if c.decided_by_id else None for c in candidates]


@strawberry.input(description="Narrows the duplicate candidates; all conditions must hold.")
class DuplicateCandidateFilterInput:
    status: Optional[DuplicateStatus] = strawberry.field(
        default=DuplicateStatus.OPEN, description="OPEN (default) or DISMISSED; null: both."
    )
    customer_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Only pairs with this customer (an id merged away stands for its survivor)."
    )
    min_score: Optional[int] = strawberry.field(default=None, description="Only pairs scoring at least this (0-100).")


@strawberry.type
class DuplicateQuery:
    @strawberry.field(
        description="Pairs of customers that may be one, best first: found by `kehu dedupe scan`, when "
        "customers are created, changed or imported. Only pairs whose two customers the viewer may both see."
    )
    async def duplicate_candidates(
        self,
        info: Info,
        first: Annotated[Optional[int], strawberry.argument(description="Page size (at most 100).")] = None,
        after: Annotated[Optional[str], strawberry.argument(description="The cursor to continue after.")] = None,
        filter: Annotated[
            Optional[DuplicateCandidateFilterInput],
            strawberry.argument(description="Narrows the list; by default open pairs only."),
        ] = None,
    ) -> Connection[DuplicateCandidate]:
        viewer = require_viewer(info.context.viewer)
        f = filter or DuplicateCandidateFilterInput()
        customer_id = None
        if f.customer_id is not None:
            pk = pk_from_global_id(f.customer_id, "Customer", "filter.customerId")
            customer_id = (await resolve_customer_ids([pk]))[pk]
        status = models.DuplicateStatus(f.status.value) if f.status is not None else None
        qs = duplicate_service.visible_pairs(
            viewer, status=status, customer_id=customer_id, min_score=f.min_score, kehu=info.context.kehu
        )
        return await relay.paginate(qs.order_by("-score", "-id"), first, after)


# --------------------------------------------------------------------------- mutations


@strawberry.input(description="Dismiss a duplicate candidate: the two are not one customer.")
class DismissDuplicateCandidateInput:
    id: strawberry.ID = strawberry.field(description="The candidate's id.")
    note: Optional[str] = strawberry.field(
        default=None, description="Why not (up to 500 characters), for whoever looks at the pair later."
    )


@strawberry.input(description="Reopen a dismissed duplicate candidate.")
class ReopenDuplicateCandidateInput:
    id: strawberry.ID = strawberry.field(description="The candidate's id.")


@strawberry.type(description="The result of dismissing or reopening a duplicate candidate.")
class DuplicateCandidatePayload(Payload):
    candidate: Optional[DuplicateCandidate] = strawberry.field(default=None, description="The candidate, as it is now.")


@strawberry.input(
    description="Whose value of each field the surviving customer keeps: the id of the survivor or of one of the "
    "merged customers. A field not given keeps the survivor's value, or — where the survivor's is empty — the "
    "first merged customer's that is not (tags: all of them; attributes: the survivor's keys, then the others')."
)
class MergeCustomerFieldsInput:
    name: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose name.")
    kind: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose kind (person, organisation).")
    email: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose e-mail address.")
    phone: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose phone number.")
    address: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose address.")
    region: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose region.")
    industry: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose industry.")
    tags: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose tags (instead of all of them).")
    attributes: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Whose attributes (instead of all keys)."
    )
    external_id: Optional[strawberry.ID] = strawberry.field(
        default=None, description="Whose external id (it moves: external ids are unique)."
    )
    owner_id: Optional[strawberry.ID] = strawberry.field(default=None, description="Whose account owner.")


@strawberry.input(
    description="Merge duplicate records of one customer into one. Needs the customers.merge permission and "
    "sight of every record."
)
class MergeCustomersInput:
    survivor_id: strawberry.ID = strawberry.field(description="The customer that remains.")
    merged_ids: list[strawberry.ID] = strawberry.field(
        description="The customers merged into it (1-20): archived, with mergedInto set; their ids resolve to the "
        "survivor from then on."
    )
    fields: Optional[MergeCustomerFieldsInput] = strawberry.field(
        default=None, description="Whose value of each field the survivor keeps."
    )


@strawberry.type(description="How many records of one kind a merge moved to the survivor.")
class MergeCount:
    part: str = strawberry.field(description='Who moved them: "core" or a plugin\'s name.')
    item: str = strawberry.field(description='What they are: "interactions", "ledger_entries" …')
    count: int = strawberry.field(description="How many.")


@strawberry.type(description="The result of mergeCustomers.")
class MergeCustomersPayload(Payload):
    customer: Optional["Customer"] = strawberry.field(default=None, description="The surviving customer, as merged.")
    merged_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="The customers merged into it (archived now)."
    )
    moved: list[MergeCount] = strawberry.field(
        default_factory=list,
        description="What moved to the survivor: the same counts as the merge's audit entry.",
        metadata=max_items(100),
    )


@strawberry.type
class DuplicateMutation:
    @strawberry.mutation(
        description="Dismiss a duplicate candidate as not one customer; it is never proposed again "
        "(permission customers.merge)."
    )
    async def dismiss_duplicate_candidate(
        self, info: Info, input: DismissDuplicateCandidateInput
    ) -> DuplicateCandidatePayload:
        pair = await duplicate_service.decide_pair(
            require_viewer(info.context.viewer),
            pk_from_global_id(input.id, "DuplicateCandidate"),
            models.DuplicateStatus.DISMISSED,
            info.context.kehu.clock.now(),
            input.note,
        )
        return DuplicateCandidatePayload(candidate=pair)

    @strawberry.mutation(description="Reopen a dismissed duplicate candidate (permission customers.merge).")
    async def reopen_duplicate_candidate(
        self, info: Info, input: ReopenDuplicateCandidateInput
    ) -> DuplicateCandidatePayload:
        pair = await duplicate_service.decide_pair(
            require_viewer(info.context.viewer),
            pk_from_global_id(input.id, "DuplicateCandidate"),
            models.DuplicateStatus.OPEN,
            info.context.kehu.clock.now(),
        )
        return DuplicateCandidatePayload(candidate=pair)

    @strawberry.mutation(
        description="Merge duplicate customers into one, in one transaction: fields as chosen, interactions and "
        "every plugin's data moved to the survivor, the others archived with mergedInto (their ids then resolve "
        "to the survivor), one audit entry listing what moved. Permission customers.merge (managers and "
        "administrators by default) and sight of every record."
    )
    async def merge_customers(self, info: Info, input: MergeCustomersInput) -> MergeCustomersPayload:
        survivor_id = pk_from_global_id(input.survivor_id, "Customer", "survivorId")
        merged_ids = pks_from_global_ids(input.merged_ids, "Customer", "mergedIds") or []
        choices = {}
        if input.fields is not None:
            for name in merge_service.MERGEABLE_FIELDS:
                value = getattr(input.fields, name)
                if value is not None:
                    camel = name.split("_")[0] + "".join(p.title() for p in name.split("_")[1:])
                    choices[name] = pk_from_global_id(value, "Customer", f"fields.{camel}")
        result = await merge_service.merge_customers(
            require_viewer(info.context.viewer), survivor_id, merged_ids, choices, kehu=info.context.kehu
        )
        return MergeCustomersPayload(
            customer=result.survivor,
            merged_ids=[strawberry.ID(to_global_id("Customer", c.id)) for c in result.merged],
            moved=[
                MergeCount(part=part, item=item, count=count)
                for part, counts in result.moved.items()
                for item, count in counts.items()
            ],
        )


async def _candidate_node(info: Info, pk: int):
    pairs = duplicate_service.visible_pairs(info.context.viewer, status=None, kehu=info.context.kehu)
    return await pairs.filter(id=pk).first()


def register(graphql: GraphQLRegistry) -> None:
    """The core's duplicate fields, registered like a plugin's."""
    graphql.query(DuplicateQuery)
    graphql.mutation(DuplicateMutation)
    graphql.node("DuplicateCandidate", _candidate_node)
