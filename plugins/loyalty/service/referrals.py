"""Referrals between customers and the bonus they earn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise.connection import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from kehu.access import Viewer
from kehu.errors import ValidationError
from kehu.models import Interaction, InteractionKind
from kehu.writes import record_change

from ..models import Referral
from .ledger import _member_customer

if TYPE_CHECKING:
    from kehu import Kehu


async def record_referral(kehu: Kehu, viewer: Viewer, referrer_id: int, referee_id: int) -> Referral:
    """Record that ``referrer`` recommended ``referee``. Refused (``ValidationError``):
    SELF_REFERRAL, ALREADY_REFERRED (one referrer per referee), REFERRAL_CYCLE (the
    referee is already up the referrer's chain), ALREADY_PURCHASED (the referee was
    a buying customer before)."""
    viewer.require("loyalty.refer")
    if referrer_id == referee_id:
        raise ValidationError("a customer cannot refer themselves", field="refereeId", code="SELF_REFERRAL")
    await _member_customer(viewer, referrer_id, "referrerId")
    await _member_customer(viewer, referee_id, "refereeId")
    await _serialize_referrals()
    if await Referral.exists(referee_id=referee_id):
        raise ValidationError("this customer already has a referrer", field="refereeId", code="ALREADY_REFERRED")
    # Walk up the referrer's chain: finding the referee there would close a cycle.
    seen = {referrer_id}
    current = referrer_id
    while True:
        parent = await Referral.filter(referee_id=current).values_list("referrer_id", flat=True)
        if not parent:
            break
        current = parent[0]
        if current == referee_id:
            raise ValidationError(
                "the referee already referred the referrer (directly or through others)",
                field="refereeId",
                code="REFERRAL_CYCLE",
            )
        if current in seen:  # defensive: the data already has a cycle
            break
        seen.add(current)
    if await Interaction.exists(customer_id=referee_id, kind=InteractionKind.PURCHASE):
        raise ValidationError(
            "the referee has already made purchases; referrals are for new customers",
            field="refereeId",
            code="ALREADY_PURCHASED",
        )
    now = kehu.clock.now()
    try:
        async with in_transaction():
            referral = await Referral.create(referrer_id=referrer_id, referee_id=referee_id, created_at=now)
    except IntegrityError:
        raise ValidationError(
            "this customer already has a referrer", field="refereeId", code="ALREADY_REFERRED"
        ) from None
    record_change(
        "LoyaltyReferral", referral.id, {"referrer_id": (None, referrer_id), "referee_id": (None, referee_id)}
    )
    return referral


async def _serialize_referrals() -> None:
    """Cycle checks read a chain that a concurrent referral could extend (A→B and
    B→A at once). On PostgreSQL a transaction-scoped advisory lock makes referral
    writes take turns; SQLite runs one write transaction at a time anyway."""
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        await conn.execute_query("SELECT pg_advisory_xact_lock(7012001)")
