"""Periodic jobs that run once per schedule, whichever worker runs them.

``kehu serve --workers N`` starts N processes, and every one of them runs the
plugins' ``kehu_startup``. A scheduler started there (an SLA check, a points
expiry, a segment recompute) would run N times per interval. ``every`` runs it
once per interval across all workers::

    from kehu import jobs


    @hookimpl
    def kehu_startup(kehu):
        jobs.every(kehu, "complaints.sla", minutes * 60, lambda: check_sla(kehu))


    @hookimpl
    async def kehu_shutdown(kehu):
        await jobs.stop(kehu, "complaints.sla")

How: a job's schedule is cut into slots of ``seconds``, counted from the Unix epoch
(plus ``offset``): a daily job's slots begin at 00:00 UTC. When a slot begins, each
worker running the job writes that slot's run into the outbox
(``kehu.server.outbox``) under a unique key — the first one succeeds, the others
find it written — and the run is then claimed and run by exactly one worker, like
any event: a run that raises is retried with the outbox's backoff and, after the
last retry, listed by ``kehu events failed``. A worker that dies during a run
loses it to the others when its claim runs out. Slots that began while no worker
was running are not caught up; the first slot a worker schedules is the first
that begins after it started.

A job should still be idempotent (the built-in ones are): a retried run, or one
whose worker died half-way, runs again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datetime as dt

    from .server.runtime import Kehu

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


@dataclass
class PeriodicJob:
    """A job started with ``every``: its schedule in this worker (``stop()`` ends it)."""

    name: str
    seconds: float
    job: Job
    offset: float = 0.0
    task: asyncio.Task | None = None
    runs: int = 0
    # The last slot this worker wrote (or found written); slots up to it are done.
    scheduled: int = 0

    def slot(self, now: dt.datetime) -> int:
        """The number of the slot ``now`` falls in."""
        return math.floor((now.timestamp() - self.offset) / self.seconds)

    def seconds_to_next_slot(self, now: dt.datetime) -> float:
        start = (self.slot(now) + 1) * self.seconds + self.offset
        return max(start - now.timestamp(), 0.0)

    async def _loop(self, kehu: Kehu) -> None:
        while True:
            # Real time, but measured on kehu's clock: a frozen test clock never
            # reaches the next slot by itself (tests call kehu.outbox.run_once()).
            await asyncio.sleep(min(self.seconds_to_next_slot(kehu.clock.now()) + 0.01, self.seconds))
            try:
                await kehu.outbox.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: the next slot tries again
                log.exception("job %s: could not schedule or run", self.name)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None


# Per Kehu app: its jobs by name.
_jobs: "weakref.WeakKeyDictionary[Kehu, dict[str, PeriodicJob]]" = weakref.WeakKeyDictionary()


def every(kehu: Kehu, name: str, seconds: float, job: Job, *, offset: float = 0) -> PeriodicJob:
    """Run ``await job()`` once per ``seconds`` across all workers of this deployment.

    :param name: unique across the deployment, by convention ``"<plugin>.<job>"``;
        workers that use the same name share one schedule.
    :param seconds: the interval; runs begin at multiples of it since the Unix
        epoch, plus ``offset`` seconds (``every(kehu, "x.daily", 86400, fn,
        offset=8 * 3600)``: daily at 08:00 UTC). The first run is at the first such
        moment after start-up.
    :param job: a coroutine function taking no arguments. Raising
        ``kehu.events.RetryLater(seconds)`` runs it again then.
    Call from ``kehu_startup`` (inside the running event loop). Starting a name
    that is already running in this app is an error.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    running = _jobs.setdefault(kehu, {})
    if name in running:
        raise ValueError(f"job {name!r} is already running")
    periodic = PeriodicJob(name, seconds, job, offset=offset)
    periodic.scheduled = periodic.slot(kehu.clock.now())
    periodic.task = asyncio.get_running_loop().create_task(periodic._loop(kehu), name=f"kehu job {name}")
    running[name] = periodic
    kehu.outbox.jobs[name] = periodic
    return periodic


async def stop(kehu: Kehu, name: str | None = None) -> None:
    """Stop one job of this app (``name``), or all of them."""
    running = _jobs.get(kehu, {})
    for job_name in [name] if name is not None else list(running):
        periodic = running.pop(job_name, None)
        if periodic is not None:
            kehu.outbox.jobs.pop(job_name, None)
            await periodic.stop()
