"""Hooks the complaints plugin defines for other plugins (a notification plugin,
a dashboard…), registered through ``kehu_plugin_info()["hookspecs"]``. Same rules
as ``kehu.hookspecs``: implementations may be async, are called after the write
commits (through the outbox: at least once, each call with the event's
``event_id`` to be idempotent by), and a failure is logged with the plugin's
name, undoes nothing and is retried.

Resolving a case also emits the core's ``kehu_survey_requested`` (reason
``"complaint_resolved"``, reference the complaint's global ID), which the surveys
plugin implements.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from kehu.hookspecs import hookspec

if TYPE_CHECKING:
    from kehu import Kehu
    from kehu.models import AccountOwner

    from .models import Complaint, ComplaintStatus


@hookspec
def kehu_complaint_filed(
    complaint: Complaint, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after a complaint has been filed.

    :param complaint: the new case (status ``RECEIVED``, deadlines set).
    :param actor: who filed it.
    """


@hookspec
def kehu_complaint_transitioned(
    complaint: Complaint,
    from_status: ComplaintStatus,
    to_status: ComplaintStatus,
    actor: AccountOwner | None,
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Called after a complaint moved along its workflow.

    :param complaint: the case as it is now.
    :param from_status: the status before.
    :param to_status: the status now.
    :param actor: who moved it.
    """


@hookspec
def kehu_complaint_assigned(
    complaint: Complaint,
    previous_assignee: AccountOwner | None,
    assignee: AccountOwner,
    actor: AccountOwner | None,
    event_id: int,
    kehu: Kehu,
) -> Awaitable[None] | None:
    """Called after a complaint was handed to another account owner by hand
    (an escalation that reassigns emits ``kehu_complaint_escalated`` instead)."""


@hookspec
def kehu_complaint_resolved(
    complaint: Complaint, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called after a complaint was resolved; its follow-up contact is scheduled
    (``complaint.follow_up_due_at``)."""


@hookspec
def kehu_complaint_escalated(
    complaint: Complaint, reason: str, actor: AccountOwner | None, event_id: int, kehu: Kehu
) -> Awaitable[None] | None:
    """Called once per case, after the SLA check escalated it (breached, or about
    to breach as the settings say); a notification plugin tells someone here.

    :param complaint: the case; ``assignee_id`` is the new assignee if the rule
        reassigned it.
    :param reason: one line, e.g. ``"HIGH priority: first response overdue since
        2026-01-01 13:00 UTC"``.
    :param actor: always ``None`` (the check runs as the system).
    """
