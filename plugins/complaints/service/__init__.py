"""Complaint handling rules (客户投诉处理): filing, the workflow, SLA deadlines,
breaches and escalation, follow-up, and the figures a team lead watches.

No GraphQL here: the API, the ``kehu complaints check-sla`` command and the
scheduler call the same functions. Every function takes the ``viewer`` (or runs as
the system) and reads through ``visible_complaints``, so a complaint of a customer
the viewer may not see is reported exactly like one that does not exist. Time is
passed in (``now``) from the application's clock, never read here.

Writes run inside ``kehu.writes.write_scope`` (GraphQL mutations already do).

The modules: ``workflow`` (the state machine), ``deadlines``, ``queries``,
``cases`` (filing and moving a case), ``escalation`` (the SLA check), ``stats``.
Other modules of the plugin import from here.
"""

from .cases import add_complaint_note, assign_complaint, file_complaint, transition_complaint
from .deadlines import is_overdue, running_deadline, sla_deadlines
from .escalation import SLA_JOB, SlaCheckResult, check_sla, start_scheduler, stop_scheduler
from .queries import ComplaintFilter, filter_complaints, get_visible_complaint, timeline, visible_complaints
from .stats import ComplaintStats, complaint_stats
from .workflow import OPEN_STATUSES, TRANSITIONS, allowed_transitions, check_transition

__all__ = [
    "add_complaint_note",
    "allowed_transitions",
    "assign_complaint",
    "check_sla",
    "check_transition",
    "complaint_stats",
    "ComplaintFilter",
    "ComplaintStats",
    "file_complaint",
    "filter_complaints",
    "get_visible_complaint",
    "is_overdue",
    "OPEN_STATUSES",
    "running_deadline",
    "sla_deadlines",
    "SLA_JOB",
    "SlaCheckResult",
    "start_scheduler",
    "stop_scheduler",
    "timeline",
    "transition_complaint",
    "TRANSITIONS",
    "visible_complaints",
]
