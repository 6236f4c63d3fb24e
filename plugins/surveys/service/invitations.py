"""Invitations: single-use links (only their digest is stored), sent by staff or
requested by another plugin's event, and opening one.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kehu import validation as v
from kehu.access import Viewer, visible_customers
from kehu.errors import ValidationError
from kehu.events import Secret
from kehu.ids import digest
from kehu.models import Customer
from kehu.writes import emit, record_change, write_scope

from ..models import Invitation, Survey, SurveyStatus
from ..settings import SurveySettings
from .definitions import get_survey

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.models import AccountOwner


log = logging.getLogger(__name__)

TOKEN_PREFIX = "sv_"


def new_token() -> str:
    # 192 bits from the OS's CSPRNG, URL-safe: unguessable and fits in a link.
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


@dataclass
class IssuedInvitation:
    invitation: Invitation
    token: str
    link: str


async def _issue(
    survey: Survey,
    customer: Customer,
    *,
    settings: SurveySettings,
    expires_in_days: int | None,
    now: dt.datetime,
    actor_id: int | None,
    reason: str,
    reference: str | None,
) -> IssuedInvitation:
    token = new_token()
    days = settings.invitation_expiry_days if expires_in_days is None else expires_in_days
    invitation = await Invitation.create(
        survey=survey,
        customer=customer,
        token_hash=digest(token),
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
        created_by_id=actor_id,
        reason=reason,
        reference=reference,
    )
    link = settings.link(token)
    # The link holds the token: the outbox keeps it only until the event is delivered.
    emit("kehu_survey_invitation_created", invitation=invitation, survey=survey, customer=customer, link=Secret(link))
    return IssuedInvitation(invitation, token, link)


async def invite(
    kehu: Kehu,
    viewer: Viewer,
    survey_id: int,
    *,
    customer_ids: list[int] | None,
    segment_key: str | None,
    expires_in_days: int | None,
    now: dt.datetime,
) -> list[IssuedInvitation]:
    """Invite explicit customers, or a segment's members (through the
    ``kehu_segment_members`` hook), to a published survey. Only customers the viewer
    may see can be invited; archived ones are skipped for a segment and refused by id."""
    viewer.require("surveys.invite")
    settings = kehu.settings_for("surveys", SurveySettings)
    survey = await get_survey(viewer, survey_id)
    if survey.status is not SurveyStatus.PUBLISHED:
        raise ValidationError("only a published survey can be sent", field="surveyId", code="NOT_PUBLISHED")
    if (customer_ids is None) == (segment_key is None):
        raise ValidationError("give either customerIds or segmentKey", field="customerIds", code="REQUIRED")
    if expires_in_days is not None and not 1 <= expires_in_days <= 365:
        raise ValidationError("must be between 1 and 365", field="expiresInDays")
    visible = visible_customers(viewer)
    if customer_ids is not None:
        if not customer_ids:
            raise ValidationError("name at least one customer", field="customerIds", code="REQUIRED")
        wanted = list(dict.fromkeys(customer_ids))
        found = {c.id: c for c in await visible.filter(id__in=wanted)}
        for i, cid in enumerate(wanted):
            if cid not in found:
                raise ValidationError("no such customer", field=f"customerIds[{i}]", code="NOT_FOUND")
            if found[cid].archived_at is not None:
                raise ValidationError(
                    "archived customers cannot be surveyed", field=f"customerIds[{i}]", code="ARCHIVED"
                )
        customers = [found[cid] for cid in wanted]
    else:
        key = v.text(segment_key, "segmentKey", max_length=100, required=True)
        members = await kehu.hooks.first("kehu_segment_members", segment_key=key, viewer=viewer)
        if members is None:
            hint = "" if kehu.is_enabled("segmentation") else " (the segmentation plugin is not enabled)"
            raise ValidationError(f"no such segment{hint}", field="segmentKey", code="UNKNOWN_SEGMENT")
        # Re-scope: a segment hook must not widen what the viewer may see.
        customers = await visible.filter(id__in=list(members), archived_at__isnull=True).order_by("id")
        if not customers:
            raise ValidationError(
                "the segment has no customers you may survey", field="segmentKey", code="EMPTY_SEGMENT"
            )
    if len(customers) > settings.max_invitations_per_request:
        raise ValidationError(
            f"{len(customers)} customers; at most {settings.max_invitations_per_request} per request",
            field="customerIds" if customer_ids is not None else "segmentKey",
            code="TOO_MANY",
        )
    issued = [
        await _issue(
            survey,
            customer,
            settings=settings,
            expires_in_days=expires_in_days,
            now=now,
            actor_id=viewer.id,
            reason="manual",
            reference=None,
        )
        for customer in customers
    ]
    record_change("Survey", survey.id, {"invitations": (None, [i.invitation.id for i in issued])})
    return issued


async def request_survey(
    kehu: Kehu,
    customer: Customer,
    reason: str,
    reference: str | None,
    actor: AccountOwner | None,
    *,
    event_id: int | None = None,
) -> IssuedInvitation | None:
    """``kehu_survey_requested``: invite ``customer`` to the survey plugins.toml names
    for ``reason``. Runs after the requesting write committed, in its own write —
    once per ``event_id`` (a repeated delivery raises ``AlreadyHandled``)."""
    settings = kehu.settings_for("surveys", SurveySettings)
    survey_id = settings.survey_for(reason)
    if survey_id is None:
        log.info("no survey configured for reason %r (plugins.surveys.on_request); none sent", reason)
        return None
    survey = await Survey.get_or_none(id=survey_id)
    if survey is None or survey.status is not SurveyStatus.PUBLISHED:
        log.warning("survey %s for reason %r is missing or not published; none sent", survey_id, reason)
        return None
    customer = await Customer.get(id=customer.id)
    if customer.archived_at is not None:
        return None
    label = f"surveys on {reason}" + (f" by {actor.email}" if actor is not None else "")
    async with write_scope(kehu, None, "inviteToSurvey", actor_label=label, event_id=event_id):
        issued = await _issue(
            survey,
            customer,
            settings=settings,
            expires_in_days=None,
            now=kehu.clock.now(),
            actor_id=actor.id if actor is not None else None,
            reason=reason[:64],
            reference=reference[:200] if reference else None,
        )
        record_change(
            "SurveyInvitation", issued.invitation.id, {"customer_id": (None, customer.id), "reason": (None, reason)}
        )
    return issued


class TokenProblem(ValidationError):
    """The link cannot be used: unknown, expired, used, or its survey closed."""


async def open_invitation(token: str, now: dt.datetime) -> Invitation:
    """The invitation of a still-usable token, with ``survey`` loaded."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise TokenProblem("this survey link is not valid", field="token", code="INVALID_TOKEN")
    invitation = await Invitation.get_or_none(token_hash=digest(token)).select_related("survey")
    if invitation is None:
        raise TokenProblem("this survey link is not valid", field="token", code="INVALID_TOKEN")
    if invitation.used_at is not None:
        raise TokenProblem("this survey link has already been used", field="token", code="TOKEN_USED")
    if invitation.expires_at <= now:
        raise TokenProblem("this survey link has expired", field="token", code="TOKEN_EXPIRED")
    if invitation.survey.status is not SurveyStatus.PUBLISHED:
        raise TokenProblem("this survey is closed", field="token", code="SURVEY_CLOSED")
    return invitation
