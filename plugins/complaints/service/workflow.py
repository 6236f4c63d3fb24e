"""The workflow: the statuses a case may move between, and which moves need a note."""

from __future__ import annotations

from kehu.errors import ValidationError
from kehu.models import InteractionKind

from ..models import ComplaintChannel, ComplaintStatus

S = ComplaintStatus


# The whole state machine: status -> the statuses it may move to. Nothing else in
# the plugin decides which transitions exist.
TRANSITIONS: dict[ComplaintStatus, tuple[ComplaintStatus, ...]] = {
    S.RECEIVED: (S.ACKNOWLEDGED,),
    S.ACKNOWLEDGED: (S.INVESTIGATING,),
    # Investigation judges whether the complaint is valid (判断投诉是否成立).
    S.INVESTIGATING: (S.RESOLUTION_PROPOSED, S.REJECTED),
    # The customer may decline the proposal: back to investigating.
    S.RESOLUTION_PROPOSED: (S.RESOLVED, S.INVESTIGATING),
    # Closing means the follow-up contact (跟踪服务) has been done.
    S.RESOLVED: (S.CLOSED, S.REOPENED),
    S.CLOSED: (S.REOPENED,),
    S.REJECTED: (),
    S.REOPENED: (S.INVESTIGATING,),
}

# Statuses in which the resolution clock runs.
OPEN_STATUSES: tuple[ComplaintStatus, ...] = (
    S.RECEIVED,
    S.ACKNOWLEDGED,
    S.INVESTIGATING,
    S.RESOLUTION_PROPOSED,
    S.REOPENED,
)

# Transitions that need a note, and what it must say.
NOTE_REQUIRED: dict[ComplaintStatus, str] = {
    S.RESOLUTION_PROPOSED: "the proposed resolution",
    S.REJECTED: "the reason the complaint is not valid, as the customer will be told",
    S.REOPENED: "why the case is reopened",
    S.CLOSED: "the outcome of the follow-up contact",
}

# Notes on these transitions are told to the customer unless marked internal.
CUSTOMER_FACING_BY_DEFAULT = frozenset({S.RESOLUTION_PROPOSED, S.REJECTED})

# How a customer-facing contact on a case is logged as an interaction.
CONTACT_KIND: dict[ComplaintChannel, InteractionKind] = {
    ComplaintChannel.HOTLINE: InteractionKind.CALL,
    ComplaintChannel.EMAIL: InteractionKind.EMAIL,
    ComplaintChannel.WEB: InteractionKind.MESSAGE,
    ComplaintChannel.VISIT: InteractionKind.VISIT,
    ComplaintChannel.SOCIAL: InteractionKind.MESSAGE,
    ComplaintChannel.OTHER: InteractionKind.NOTE,
}

MAX_NOTE = 20_000


def allowed_transitions(status: ComplaintStatus) -> tuple[ComplaintStatus, ...]:
    return TRANSITIONS[ComplaintStatus(status)]


def check_transition(current: ComplaintStatus, to: ComplaintStatus) -> None:
    """Raise a ``ValidationError`` naming the current state and the allowed ones
    unless the table allows ``current`` → ``to``."""
    allowed = allowed_transitions(current)
    if to not in allowed:
        names = ", ".join(s.value for s in allowed) or f"none ({current.value} is final)"
        raise ValidationError(
            f"a complaint in status {current.value} cannot move to {to.value}; allowed: {names}",
            field="to",
            code="TRANSITION_NOT_ALLOWED",
        )
