"""``/metrics``: the Prometheus text format, through the official client library.

What is measured:

* ``kehu_graphql_requests_total{operation,kind,outcome}`` and
  ``kehu_graphql_request_seconds{operation,kind}``: every GraphQL operation by its
  name (``createCustomer`` for a mutation's root field when the document has no
  name), ``query``/``mutation``, and ``ok``/``error``;
* ``kehu_events_delivered_total{hook}``, ``kehu_event_handler_failures_total{hook,plugin}``,
  ``kehu_event_handler_seconds{hook}`` (the handlers' time) and
  ``kehu_event_delivery_lag_seconds{hook}`` (from the commit to the delivery:
  retries show here), ``kehu_job_runs_total{job}``;
* ``kehu_outbox_events{state}`` (PENDING and FAILED rows) and
  ``kehu_outbox_oldest_due_seconds``, read from the database at each scrape;
* what plugins register with ``prometheus_client`` themselves (the webhooks and
  notifications plugins count deliveries and messages).

With ``kehu serve --workers N`` each worker is a process of its own: ``kehu serve``
then gives them a shared directory (``PROMETHEUS_MULTIPROC_DIR``, the client's
multi-process mode) so that a scrape, whichever worker answers it, adds up all of
them.

Who may read it: nobody, until ``[metrics] enabled = true``; then scrapers holding
the token in ``$KEHU_METRICS_TOKEN`` (``Authorization: Bearer …``) or calling from
an address in ``allow_from``. The counts say how busy the business is and which
operations its clients run: not for the public.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

if TYPE_CHECKING:
    import datetime as dt

    from starlette.requests import Request

    from ..models import OutboxEvent
    from .runtime import Kehu

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600)

graphql_requests = Counter("kehu_graphql_requests", "GraphQL operations answered", ["operation", "kind", "outcome"])
graphql_seconds = Histogram(
    "kehu_graphql_request_seconds", "Time to answer a GraphQL operation", ["operation", "kind"], buckets=LATENCY_BUCKETS
)
events_delivered = Counter("kehu_events_delivered", "Event deliveries to plugins' handlers", ["hook"])
handler_failures = Counter(
    "kehu_event_handler_failures", "Event handler calls that raised (retried later)", ["hook", "plugin"]
)
handler_seconds = Histogram(
    "kehu_event_handler_seconds", "Time the handlers of one event took", ["hook"], buckets=LATENCY_BUCKETS
)
delivery_lag = Histogram(
    "kehu_event_delivery_lag_seconds", "From the event's commit to its delivery", ["hook"], buckets=LAG_BUCKETS
)
job_runs = Counter("kehu_job_runs", "Periodic job runs", ["job"])

# Operation names come from clients: keep the label set bounded.
MAX_OPERATIONS = 500
_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    name = (name or "anonymous")[:64]
    if name in _operations:
        return name
    if len(_operations) >= MAX_OPERATIONS:
        return "other"
    _operations.add(name)
    return name


def graphql_answered(operation: str | None, kind: str, ok: bool, seconds: float) -> None:
    label = operation_label(operation)
    graphql_requests.labels(label, kind, "ok" if ok else "error").inc()
    graphql_seconds.labels(label, kind).observe(seconds)


def event_delivered(row: OutboxEvent, seconds: float, failures: dict[str, Exception], now: dt.datetime) -> None:
    events_delivered.labels(row.name).inc()
    handler_seconds.labels(row.name).observe(seconds)
    if row.created_at is not None:
        delivery_lag.labels(row.name).observe(max((now - row.created_at).total_seconds(), 0.0))
    for plugin in failures or ():
        handler_failures.labels(row.name, plugin).inc()


def job_ran(name: str, seconds: float) -> None:
    job_runs.labels(name).inc()


# --------------------------------------------------------------------------- the endpoint


def allowed(kehu: Kehu, request: Request) -> bool:
    settings = kehu.config.metrics
    token = os.environ.get(settings.token_env, "")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    client = request.client.host if request.client else None
    if client and settings.allow_from:
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(entry, strict=False) for entry in settings.allow_from)
    return False


class _Snapshot:
    """Gauges read from the database just before the scrape."""

    def __init__(self, depth: dict[str, int], oldest_due: float | None):
        self.depth = depth
        self.oldest_due = oldest_due

    def collect(self) -> Any:
        gauge = GaugeMetricFamily("kehu_outbox_events", "Outbox rows waiting or failed", labels=["state"])
        for state, count in sorted(self.depth.items()):
            gauge.add_metric([state], count)
        yield gauge
        yield GaugeMetricFamily(
            "kehu_outbox_oldest_due_seconds",
            "How long the oldest due event has waited (0: none waiting)",
            value=self.oldest_due or 0.0,
        )


async def render(kehu: Kehu) -> tuple[bytes, str]:
    """The scrape's body and content type."""
    from ..models import OutboxEvent, OutboxState

    now = kehu.clock.now()
    depth = await kehu.outbox.depth()
    oldest = await OutboxEvent.filter(state=OutboxState.PENDING, due_at__lte=now).order_by("due_at").first()
    snapshot = CollectorRegistry()
    snapshot.register(_Snapshot(depth, (now - oldest.due_at).total_seconds() if oldest else None))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
        body = generate_latest(processes)
    else:
        from prometheus_client import REGISTRY

        body = generate_latest(REGISTRY)
    return body + generate_latest(snapshot), CONTENT_TYPE_LATEST
