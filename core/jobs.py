"""Periodic jobs that run in one worker only.

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

How one worker is chosen:

- **PostgreSQL**: each process keeps one extra connection (outside the request
  pool) and, per job, tries ``pg_try_advisory_lock`` on a key derived from the job's
  name. The process holding the lock is the job's leader and runs it every
  ``seconds``; the others only re-try the lock at each tick. When the leader stops
  or dies, its connection closes, PostgreSQL releases the lock, and another worker
  takes over at its next tick — no lease to expire, no row to clean up.
- **SQLite**: kehu serves SQLite from one process, so the job simply runs.

A job should still be idempotent (the built-in ones are): a leader can lose its
connection in the middle of a run, and its successor then runs the job again.
A failing run is logged with the job's name; the next tick runs anyway.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import is_sqlite, normalise_url

if TYPE_CHECKING:
    from .server.runtime import Kehu

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[Any]]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a job name."""
    return int.from_bytes(hashlib.sha256(f"kehu.jobs:{name}".encode()).digest()[:8], "big", signed=True)


class _Leadership:
    """One process's dedicated PostgreSQL connection and the job locks it holds."""

    def __init__(self, database_url: str):
        self.dsn = normalise_url(database_url).replace("postgres://", "postgresql://", 1)
        self.connection: Any = None
        self.held: set[str] = set()
        self.lock = asyncio.Lock()

    async def leads(self, name: str) -> bool:
        async with self.lock:
            try:
                if self.connection is None or self.connection.is_closed():
                    import asyncpg

                    self.held.clear()  # locks die with their connection
                    self.connection = await asyncpg.connect(self.dsn)
                if name not in self.held and await self.connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", lock_key(name)
                ):
                    self.held.add(name)
            except Exception as exc:  # the database is away: lead nothing this tick
                log.warning("job %s: cannot check leadership: %s", name, exc)
                await self._drop()
            return name in self.held

    async def release(self, name: str) -> None:
        async with self.lock:
            if name in self.held and self.connection is not None and not self.connection.is_closed():
                try:
                    await self.connection.execute("SELECT pg_advisory_unlock($1)", lock_key(name))
                except Exception:  # the connection is going anyway
                    pass
            self.held.discard(name)
            if not self.held:
                await self._drop()

    async def _drop(self) -> None:
        connection, self.connection = self.connection, None
        self.held.clear()
        if connection is not None:
            try:
                await connection.close(timeout=5)
            except Exception:
                connection.terminate()


@dataclass
class PeriodicJob:
    name: str
    seconds: float
    job: Job
    task: asyncio.Task | None = None
    runs: int = 0
    _leadership: _Leadership | None = field(default=None, repr=False)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            if self._leadership is not None and not await self._leadership.leads(self.name):
                continue
            try:
                await self.job()
                self.runs += 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job %s failed; it runs again in %ss", self.name, self.seconds)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None
        if self._leadership is not None:
            await self._leadership.release(self.name)


# Per Kehu app: its jobs by name, and its leadership connection.
_jobs: "weakref.WeakKeyDictionary[Kehu, dict[str, PeriodicJob]]" = weakref.WeakKeyDictionary()
_leaderships: "weakref.WeakKeyDictionary[Kehu, _Leadership]" = weakref.WeakKeyDictionary()


def every(kehu: Kehu, name: str, seconds: float, job: Job) -> PeriodicJob:
    """Run ``await job()`` every ``seconds`` in one worker of this deployment.

    :param name: unique across the deployment, by convention ``"<plugin>.<job>"``;
        workers that use the same name share one schedule.
    :param seconds: the interval; the first run is one interval after start-up.
    :param job: a coroutine function taking no arguments.
    Call from ``kehu_startup`` (inside the running event loop). Starting a name
    that is already running in this app is an error.
    """
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    running = _jobs.setdefault(kehu, {})
    if name in running:
        raise ValueError(f"job {name!r} is already running")
    leadership = None
    if not is_sqlite(kehu.config.kehu.database_url):
        leadership = _leaderships.get(kehu)
        if leadership is None:
            leadership = _leaderships[kehu] = _Leadership(kehu.config.kehu.database_url)
    periodic = PeriodicJob(name, seconds, job, _leadership=leadership)
    periodic.task = asyncio.get_running_loop().create_task(periodic._loop(), name=f"kehu job {name}")
    running[name] = periodic
    return periodic


async def stop(kehu: Kehu, name: str | None = None) -> None:
    """Stop one job of this app (``name``), or all of them; releases its lock."""
    running = _jobs.get(kehu, {})
    for job_name in [name] if name is not None else list(running):
        periodic = running.pop(job_name, None)
        if periodic is not None:
            await periodic.stop()
