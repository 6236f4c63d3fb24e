"""What the plugin sends on its own: survey invitations to customers, complaint
escalations and missed deadlines to the people responsible, and what other
plugins ask for (``kehu_notification_requested``). Each runs once per event
(``write_scope(event_id=...)``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kehu.ids import to_global_id
from kehu.models import AccountOwner, Customer, Role
from kehu.writes import record_change, write_scope

from ..settings import LANGUAGES
from .channels import Recipient, language_of
from .messages import absolute, queue, settings_of, zone_of

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.events import Event


def owner_recipient(owner: AccountOwner, kehu: Kehu) -> Recipient:
    """A staff member, in the language they chose (``setMyLanguage``), else the default."""
    language = owner.language if owner.language in LANGUAGES else settings_of(kehu).default_language
    return Recipient(owner=owner, language=language)


async def survey_invitation(kehu: Kehu, invitation: Any, survey: Any, customer: Customer, link: str, event_id: int):
    """E-mail a survey invitation to the customer, with the absolute link."""
    settings = settings_of(kehu)
    if not settings.send_survey_invitations:
        return
    customer = await Customer.get(id=customer.id)
    owner = await AccountOwner.get_or_none(id=customer.owner_id) if customer.owner_id else None
    context = {
        "customer": customer.name,
        "survey": survey.title,
        "link": absolute(kehu, link),
        "expires": invitation.expires_at.astimezone(zone_of(kehu)).strftime("%Y-%m-%d"),
        "sender": owner.name if owner is not None else settings.smtp.from_name,
    }
    recipient = Recipient(customer=customer, language=language_of(customer, settings))
    async with write_scope(
        kehu, None, "notifications.surveyInvitation", actor_label="notifications", event_id=event_id
    ):
        await queue(kehu, "surveys.invitation", [recipient], context, f"event:{event_id}")


async def responsible_for(customer_id: int, assignee_id: int | None = None) -> list[AccountOwner]:
    """A case's assignee, the customer's owner, and the managers of their teams."""
    people: dict[int, AccountOwner] = {}
    customer = await Customer.get(id=customer_id)
    for owner_id in (assignee_id, customer.owner_id):
        if owner_id is not None and owner_id not in people:
            owner = await AccountOwner.get_or_none(id=owner_id, active=True, is_service=False)
            if owner is not None:
                people[owner.id] = owner
    teams = {o.team for o in people.values() if o.team}
    if teams:
        for manager in await AccountOwner.filter(
            role=Role.MANAGER, team__in=list(teams), active=True, is_service=False
        ).order_by("id"):
            people.setdefault(manager.id, manager)
    return list(people.values())


async def _complaint_context(kehu: Kehu, complaint: Any) -> dict[str, Any]:
    customer = await Customer.get(id=complaint.customer_id)
    assignee = await AccountOwner.get_or_none(id=complaint.assignee_id) if complaint.assignee_id else None
    gid = to_global_id("Complaint", complaint.id)
    return {
        "customer": customer.name,
        "category": complaint.category,
        "priority": getattr(complaint.priority, "value", complaint.priority),
        "assignee": assignee.name if assignee is not None else "—",
        "link": _console_link(kehu, f"#/complaints/{gid}"),
    }


def _console_link(kehu: Kehu, fragment: str) -> str:
    base = settings_of(kehu).public_base_url
    return f"{base}/console{fragment}" if base else f"/console{fragment}"


async def complaint_escalated(kehu: Kehu, complaint: Any, reason: str, event_id: int) -> None:
    if not settings_of(kehu).notify_complaints:
        return
    context = {**await _complaint_context(kehu, complaint), "reason": reason}
    recipients = [owner_recipient(o, kehu) for o in await responsible_for(complaint.customer_id, complaint.assignee_id)]
    async with write_scope(
        kehu, None, "notifications.complaintEscalated", actor_label="notifications", event_id=event_id
    ):
        await queue(kehu, "complaints.escalated", recipients, context, f"event:{event_id}")


DEADLINES = {"first_response": ("首次响应", "first response"), "resolution": ("解决", "resolution")}


async def event_published(kehu: Kehu, event: Event, event_id: int) -> None:
    """``complaint.sla_breached`` (a live event of the complaints plugin): tell the
    customer's owner and their team's managers. The event names the case and its
    customer only — no plugin reads another's tables — so the case's assignee
    hears of it through the escalation that follows."""
    if event.topic != "complaint.sla_breached" or not settings_of(kehu).notify_complaints:
        return
    if event.customer_id is None or not await Customer.exists(id=event.customer_id):
        return
    customer = await Customer.get(id=event.customer_id)
    zh, en = DEADLINES.get(str(event.data.get("deadline")), (str(event.data.get("deadline")),) * 2)
    context = {"customer": customer.name, "link": _console_link(kehu, f"#/complaints/{event.node_id or ''}")}
    recipients = [owner_recipient(o, kehu) for o in await responsible_for(customer.id)]
    async with write_scope(
        kehu, None, "notifications.complaintBreached", actor_label="notifications", event_id=event_id
    ):
        for recipient in recipients:
            deadline = zh if recipient.language == "zh-CN" else en
            await queue(
                kehu, "complaints.sla_breached", [recipient], {**context, "deadline": deadline}, f"event:{event_id}"
            )


async def requested(
    kehu: Kehu, template: str, owner_ids: list[int], customer_ids: list[int], context: dict[str, Any], event_id: int
) -> None:
    """``kehu_notification_requested``: another plugin's message."""
    settings = settings_of(kehu)
    recipients = [
        owner_recipient(o, kehu)
        for o in await AccountOwner.filter(id__in=owner_ids or [], active=True, is_service=False).order_by("id")
    ] + [
        Recipient(customer=c, language=language_of(c, settings))
        for c in await Customer.filter(id__in=customer_ids or [], archived_at__isnull=True).order_by("id")
    ]
    async with write_scope(kehu, None, "notifications.requested", actor_label="notifications", event_id=event_id):
        messages = await queue(kehu, template, recipients, context, f"event:{event_id}")
        record_change("NotificationRequest", event_id, {"messages": (None, len(messages))})
