"""Hooks the surveys plugin defines for other plugins (registered through
``kehu_plugin_info``). Same rules as ``kehu.hookspecs``: may be async, delivered
after the write commits (through the outbox: at least once, each call with the
event's ``event_id`` to be idempotent by), failures are logged with the plugin's
name, undo nothing and are retried."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from kehu.hookspecs import hookspec

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.models import AccountOwner, Customer

    from .models import Invitation, Response, Survey


@hookspec
def kehu_survey_invitation_created(
    invitation: Invitation,
    survey: Survey,
    customer: Customer,
    link: str,
    actor: AccountOwner | None,
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Called after a survey invitation has been committed.

    :param invitation: the new invitation (``reason`` and ``reference`` say why).
    :param link: the public answering link, token included. Only this event and
        the ``inviteToSurvey`` payload ever carry it (the database keeps a hash),
        so a plugin that delivers invitations by e-mail or SMS implements this hook.
    :param actor: who caused it (``None`` for requests from other plugins' events).
    """


@hookspec
def kehu_survey_response_received(
    response: Response, survey: Survey, customer: Customer, detractor: bool, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after a customer's survey response has been committed.

    :param response: the response, ``answers`` not loaded.
    :param detractor: whether it holds an NPS score of 0–6 or a CSAT score of 1–2 —
        the cue for a follow-up (the complaints plugin may open a case).
    """
