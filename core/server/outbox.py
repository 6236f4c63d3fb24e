"""The transactional outbox: events written with the write that causes them, and
delivered to plugins' handlers after the commit, at least once.

How an event travels:

1. ``write_scope`` calls ``Outbox.record`` inside the write's transaction: one
   ``kehu_outbox`` row per event hook call (its arguments encoded — model instances
   by reference, never their personal data), and one per live ``Event`` when a
   plugin implements ``kehu_event_published``. A rolled-back write leaves no event.
2. The rows are written already claimed by this worker (``locked_by``/
   ``locked_until``), so right after the commit the same worker delivers them in the
   request (``deliver_recorded``, before the response: a client that reads next sees
   the handlers' effects). No other worker touches them while the claim lasts.
3. What is not delivered then — a handler failed, or the worker died after the
   commit — is found by the background loop of any worker (``run_once``, every
   ``[events] poll_seconds``): due rows are claimed in batches (PostgreSQL: ``FOR
   UPDATE SKIP LOCKED``, so each row goes to exactly one worker), their arguments
   loaded again from the database, and the handlers that have not succeeded yet
   (``remaining``) called again.
4. A failing handler is retried after ``retry_seconds[n]`` (about a day in all);
   then the row is FAILED — a dead letter that admins list and retry (``kehu events
   failed``, ``kehu events retry ID``, GraphQL ``outboxEvents``/``retryOutboxEvent``).

Every handler gets the row's id as ``event_id`` and must be idempotent by it: it
may run again after a crash or a retry. ``write_scope(..., event_id=event_id)``
makes a handler's database write happen once per event.

Periodic jobs (``kehu.jobs``) go through the same table: each schedule slot is one
row with a unique ``dedupe_key``, so one run per slot across all workers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import Enum
from importlib import import_module
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.models import Model

from ..errors import NotFound
from ..events import PUBLISHED_HOOK, GiveUp, RetryLater
from ..models import AccountOwner, OutboxEvent, OutboxKind, OutboxState
from .db import is_sqlite

if TYPE_CHECKING:
    from ..events import Event
    from ..jobs import PeriodicJob
    from ..writes import WriteScope
    from .runtime import Kehu

log = logging.getLogger(__name__)

ERROR_CHARS = 2000

# PostgreSQL: each due row goes to exactly one of the workers asking at once;
# rows another worker is claiming are skipped, not waited for.
CLAIM_SQL = """
UPDATE kehu_outbox SET locked_by = $1, locked_until = $2
WHERE id IN (
    SELECT id FROM kehu_outbox
    WHERE state = 'PENDING' AND due_at <= $3 AND (locked_until IS NULL OR locked_until < $3)
      AND (kind = 'EVENT' OR name = ANY($5::text[]))
    ORDER BY due_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING id
"""


# --------------------------------------------------------------------------- arguments


class GoneError(LookupError):
    """An event's argument refers to a record that no longer exists."""


def encode(value: Any) -> Any:
    """An event argument as JSON. Model instances are stored by reference (app,
    model, primary key, and which relations were loaded), never copied; plain
    values are (a customer event's ``changes``: the masking plugin seals the
    encrypted fields among them, like an audit entry's)."""
    from ..events import Event, Secret

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Secret):
        return {"$secret": encode(value.value)}
    if isinstance(value, Model):
        if value.pk is None:
            raise TypeError(f"{type(value).__name__} without a primary key cannot be an event argument")
        loaded = [name for name in value._meta.fk_fields if isinstance(value.__dict__.get(f"_{name}"), Model)]
        return {"$model": value._meta.full_name, "pk": value.pk, "loaded": loaded}
    if isinstance(value, Event):
        return {"$event": asdict(value)}
    if isinstance(value, Enum):
        return {"$enum": f"{type(value).__module__}:{type(value).__qualname__}", "value": value.value}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, range):  # kehu_bulk_loaded's interaction ids: three numbers, not a list
        return {"$range": [value.start, value.stop, value.step]}
    if isinstance(value, (list, set, frozenset)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    raise TypeError(f"{type(value).__name__} cannot be stored as an event argument")


async def _insert_returning_ids(rows: list[OutboxEvent]) -> None:
    """A write's few events in one ``INSERT … VALUES (…), (…) RETURNING id``
    (SQLite ≥ 3.35 and PostgreSQL), not a statement each. The ids of one statement
    are increasing in the order of its rows on both (one sequence, one writer), so
    the sorted ids are the rows' ids in order."""
    db = OutboxEvent._meta.db
    fields = OutboxEvent._meta.fields_map
    names = [n for n in OutboxEvent._meta.fields_db_projection if n != "id" and not fields[n].generated]
    columns = ", ".join(f'"{OutboxEvent._meta.fields_db_projection[n]}"' for n in names)
    values: list[Any] = []
    groups = []
    for row in rows:
        groups.append("(" + ", ".join(f"${len(values) + i + 1}" for i in range(len(names))) + ")")
        values += [fields[n].to_db_value(getattr(row, n), row) for n in names]
    found = await db.execute_query_dict(
        f'INSERT INTO "{OutboxEvent._meta.db_table}" ({columns}) VALUES {", ".join(groups)} RETURNING id', values
    )
    for row, key in zip(rows, sorted(r["id"] for r in found), strict=True):
        row.pk = key
        row._saved_in_db = True


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def _reveal(arguments: dict[str, Any]) -> dict[str, Any]:
    from ..events import Secret

    return {k: v.value if isinstance(v, Secret) else v for k, v in arguments.items()}


def _has_secret(arguments: Any) -> bool:
    return isinstance(arguments, dict) and any(isinstance(v, dict) and "$secret" in v for v in arguments.values())


def _erase_secrets(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: {"$secret": None} if isinstance(v, dict) and "$secret" in v else v for k, v in arguments.items()}


class _Decoder:
    """Turns encoded arguments back into values, loading the model instances of a
    whole batch of events at once (one query per model and set of loaded
    relations, not one per event)."""

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.instances: dict[tuple[str, Any], Model] = {}
        self.actors: dict[int, AccountOwner] = {}

    async def load(self, rows: list[OutboxEvent]) -> None:
        wanted: dict[tuple[str, tuple[str, ...]], set[Any]] = {}
        for row in rows:
            self._collect(row.arguments, wanted)
        for (full_name, loaded), pks in wanted.items():
            try:
                model = self._model(full_name)
            except GoneError:
                continue  # those rows fail when decoded
            query = model.filter(pk__in=list(pks))
            if loaded:
                query = query.select_related(*loaded)
            for instance in await query:
                self.instances[(full_name, instance.pk)] = instance
        actor_ids = {row.actor_id for row in rows if row.actor_id is not None}
        if actor_ids:
            self.actors = {o.id: o for o in await AccountOwner.filter(id__in=list(actor_ids))}

    def decode(self, row: OutboxEvent) -> tuple[dict[str, Any], AccountOwner | None]:
        """The row's arguments and actor; ``GoneError`` if a record is gone."""
        arguments = {name: self._value(value) for name, value in row.arguments.items()}
        return arguments, self.actors.get(row.actor_id) if row.actor_id is not None else None

    def _model(self, full_name: str) -> type[Model]:
        app, _, name = full_name.partition(".")
        try:
            return self.kehu.ctx.apps.get_model(app, name)  # type: ignore[union-attr]  # None is caught below
        except Exception:
            raise GoneError(f"{full_name} is not a model of the enabled plugins") from None

    def _collect(self, value: Any, wanted: dict) -> None:
        if isinstance(value, dict):
            if "$model" in value:
                key = (value["$model"], tuple(value.get("loaded") or ()))
                wanted.setdefault(key, set()).add(value["pk"])
                return
            for item in value.values():
                self._collect(item, wanted)
        elif isinstance(value, list):
            for item in value:
                self._collect(item, wanted)

    def _value(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._value(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "$model" in value:
            instance = self.instances.get((value["$model"], value["pk"]))
            if instance is None:
                raise GoneError(f"{value['$model']} {value['pk']} no longer exists")
            return instance
        if "$secret" in value:
            if value["$secret"] is None:
                raise GoneError("a secret argument was already erased")
            return self._value(value["$secret"])
        if "$event" in value:
            from ..events import Event

            return Event(**value["$event"])
        if "$enum" in value:
            module, _, qualname = value["$enum"].partition(":")
            enum: Any = import_module(module)
            for part in qualname.split("."):
                enum = getattr(enum, part)
            return enum(value["value"])
        if "$decimal" in value:
            return Decimal(value["$decimal"])
        if "$datetime" in value:
            return dt.datetime.fromisoformat(value["$datetime"])
        if "$date" in value:
            return dt.date.fromisoformat(value["$date"])
        if "$tuple" in value:
            return tuple(self._value(v) for v in value["$tuple"])
        if "$range" in value:
            return range(*value["$range"])
        if "$dict" in value:
            return {self._value(k): self._value(v) for k, v in value["$dict"]}
        return {k: self._value(v) for k, v in value.items()}


# --------------------------------------------------------------------------- the outbox


@dataclass
class Recorded:
    """A row written by ``record`` with the live arguments it was made from: the
    worker that committed it delivers them without reading them back."""

    row: OutboxEvent
    arguments: dict[str, Any]
    actor: AccountOwner | None


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    jobs: int = 0
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list)


class Outbox:
    """One per ``Kehu`` app (``kehu.outbox``)."""

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.settings = kehu.config.events
        # Who holds a claim: unique per app, so two apps in one process (tests) or a
        # restarted process never mistake each other's claims for their own.
        self.worker = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self.postgres = not is_sqlite(kehu.config.kehu.database_url)
        self.jobs: dict[str, PeriodicJob] = {}
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self._semaphore: asyncio.Semaphore | None = None
        self._claims = 0

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.lease_seconds)

    # -- writing: inside the write's transaction ----------------------------------

    async def record(self, scope: WriteScope, live: list[Event], actor: AccountOwner | None) -> list[Recorded]:
        """Write the scope's events in the current transaction. Events whose hook no
        enabled plugin implements are written as delivered (they stay visible to
        admins for ``keep_days``); live events only when a plugin takes them."""
        hooks = self.kehu.hooks
        inline = self.settings.deliver_inline
        calls = [(hook, kwargs, inline) for hook, kwargs in scope.events]
        if live and hooks.implemented(PUBLISHED_HOOK):
            calls += [(PUBLISHED_HOOK, {"event": event}, inline) for event in live]
        calls += [(hook, kwargs, False) for hook, kwargs in scope.later]
        if not calls:
            return []
        now = self.kehu.clock.now()
        recorded = []
        for hook, kwargs, inline in calls:
            kwargs = dict(kwargs)
            who = kwargs.pop("actor", actor)  # an emit may name its own actor
            try:
                arguments = {name: encode(value) for name, value in kwargs.items()}
            except TypeError as exc:
                raise TypeError(f"{hook}: {exc}") from None
            pending = hooks.implemented(hook)
            row = OutboxEvent(
                kind=OutboxKind.EVENT,
                name=hook,
                topic=kwargs["event"].topic if hook == PUBLISHED_HOOK else None,
                arguments=arguments,
                actor_id=who.id if who is not None else None,
                request_id=scope.request_id,
                state=OutboxState.PENDING if pending else OutboxState.DONE,
                due_at=now,
                locked_by=self.worker if pending and inline else None,
                locked_until=now + self.lease if pending and inline else None,
                created_at=now,
                finished_at=None if pending else now,
            )
            if not pending and _has_secret(arguments):
                row.arguments = _erase_secrets(arguments)
            recorded.append(Recorded(row, kwargs, who))
        if len(recorded) > 20:
            from ..cli.transfer import bulk_create_with_ids

            await bulk_create_with_ids(OutboxEvent, [r.row for r in recorded])
        elif len(recorded) > 1:
            await _insert_returning_ids([r.row for r in recorded])
        else:
            await recorded[0].row.save()
        return recorded

    # -- delivering ------------------------------------------------------------------

    async def deliver_recorded(self, recorded: list[Recorded]) -> None:
        """Deliver a committed write's events right away, in order, with the objects
        the write made (no reading back). Never raises: what fails is retried."""
        if any(item.row.locked_by is None and item.row.state is OutboxState.PENDING for item in recorded):
            self.wake()  # events for the background: this worker's loop takes them now
        done = []
        try:
            for item in recorded:
                if item.row.locked_by is None and item.row.state is OutboxState.PENDING:
                    continue
                # A hook nobody implements is written as delivered; dispatching it
                # anyway (to no handler) is what tests' event recorders see.
                failures = await self._dispatch(item.row, _reveal(item.arguments), item.actor)
                if item.row.state is OutboxState.DONE:
                    continue
                if failures:
                    await self._finish(item.row, failures)
                else:
                    done.append(item.row)
            if done:
                await self._mark_done(done)
        except Exception:  # the database went away: the claims run out, another try follows
            log.exception("events %s: delivery interrupted", [item.row.id for item in recorded])

    async def _dispatch(self, row: OutboxEvent, arguments: dict[str, Any], actor: AccountOwner | None):
        started = time.perf_counter()
        if not self.kehu.plugins.is_defined(row.name):
            # Stored while the plugin that defines the hook was enabled, delivered
            # after it was disabled: nobody listens any more (emit checked the name).
            failures: dict[str, Exception] = {}
        else:
            failures = await self.kehu.hooks.dispatch_event(
                row.name, plugins=row.remaining, event_id=row.id, actor=actor, **arguments
            )
        from . import metrics

        metrics.event_delivered(row, time.perf_counter() - started, failures, self.kehu.clock.now())
        return failures or {}

    async def run_once(self, limit: int | None = None) -> DeliveryReport:
        """Claim the due rows (events and this app's job runs) and deliver them: one
        pass of the background loop, also what tests and ``kehu events deliver``
        call. Returns what happened."""
        report = DeliveryReport()
        started = time.perf_counter()
        await self.schedule_jobs()
        while True:
            size = self.settings.batch_size if limit is None else min(self.settings.batch_size, limit - len(report.ids))
            if size <= 0:
                break
            rows = await self.claim(size)
            if not rows:
                break
            await self._deliver_batch(rows, report)
            if len(rows) < size:
                break
        report.seconds = time.perf_counter() - started
        return report

    async def claim(self, limit: int) -> list[OutboxEvent]:
        """Claim up to ``limit`` due rows for this worker. On PostgreSQL ``FOR UPDATE
        SKIP LOCKED`` hands each row to exactly one of the workers asking at once; on
        SQLite the database's single writer does the same."""
        now = self.kehu.clock.now()
        claimable = Q(state=OutboxState.PENDING, due_at__lte=now) & (
            Q(locked_until__isnull=True) | Q(locked_until__lt=now)
        )
        kinds = Q(kind=OutboxKind.EVENT)
        if self.jobs:
            kinds |= Q(kind=OutboxKind.JOB, name__in=list(self.jobs))
        # Each claim has a token of its own: two passes of one worker never share rows.
        self._claims += 1
        token = f"{self.worker}/{self._claims}"
        if self.postgres:
            # Tortoise drops FOR UPDATE from a subquery, hence the SQL.
            rows = await OutboxEvent._meta.db.execute_query_dict(
                CLAIM_SQL, [token, now + self.lease, now, limit, list(self.jobs)]
            )
            if not rows:
                return []
        else:
            # One statement: it takes SQLite's write lock at once (a read, then a
            # write, in one transaction could not upgrade while another process writes).
            due = OutboxEvent.filter(claimable & kinds).order_by("due_at", "id").limit(limit)
            claimed = await OutboxEvent.filter(Q(id__in=Subquery(due.values("id"))) & claimable).update(
                locked_by=token, locked_until=now + self.lease
            )
            if not claimed:
                return []
        return await OutboxEvent.filter(locked_by=token).order_by("due_at", "id")

    async def _deliver_batch(self, rows: list[OutboxEvent], report: DeliveryReport) -> None:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        done: list[OutboxEvent] = []
        decoder = _Decoder(self.kehu)
        await decoder.load([row for row in rows if row.kind is OutboxKind.EVENT])

        async def one(row: OutboxEvent) -> None:
            if row.kind is OutboxKind.JOB and row.name not in self.jobs:
                # Stopped since it was claimed: leave it to a worker that runs it.
                await OutboxEvent.filter(id=row.id, locked_by=row.locked_by).update(locked_by=None, locked_until=None)
                return
            semaphore = self._semaphore
            assert semaphore is not None  # made before any delivery starts
            async with semaphore:
                try:
                    failures = await self._deliver_claimed(row, decoder)
                except Exception:  # the database went away: the claim expires, another try follows
                    log.exception("event %s (%s): delivery interrupted", row.id, row.name)
                    return
                report.ids.append(row.id)
                if row.kind is OutboxKind.JOB:
                    report.jobs += 1
                if not failures:
                    done.append(row)
                    report.delivered += 1
                    return
                state = await self._finish(row, failures)
                if state is OutboxState.FAILED:
                    report.failed += 1
                else:
                    report.retrying += 1

        await asyncio.gather(*(one(row) for row in rows))
        if done:  # one statement for every success of the batch
            await self._mark_done(done)

    async def _mark_done(self, rows: list[OutboxEvent]) -> None:
        await OutboxEvent.filter(id__in=[r.id for r in rows], locked_by__in=list({r.locked_by for r in rows})).update(
            state=OutboxState.DONE,
            finished_at=self.kehu.clock.now(),
            remaining=None,
            locked_by=None,
            locked_until=None,
            last_error="",
        )
        for row in rows:
            if _has_secret(row.arguments):  # delivered: the secret is not needed any more
                await OutboxEvent.filter(id=row.id).update(arguments=_erase_secrets(row.arguments))

    async def _deliver_claimed(self, row: OutboxEvent, decoder: _Decoder) -> dict[str, Exception]:
        if row.kind is OutboxKind.JOB:
            return await self._run_job(row)
        try:
            arguments, actor = decoder.decode(row)
        except GoneError as exc:
            return {"kehu": exc}
        return await self._dispatch(row, arguments, actor)

    async def _run_job(self, row: OutboxEvent) -> dict[str, Exception]:
        job = self.jobs[row.name]
        started = time.perf_counter()
        try:
            await job.job()
            job.runs += 1
        except RetryLater as exc:
            return {"job": exc}
        except Exception as exc:
            log.exception("job %s failed", row.name)
            return {"job": exc}
        finally:
            from . import metrics

            metrics.job_ran(row.name, time.perf_counter() - started)
        return {}

    async def _finish(self, row: OutboxEvent, failures: dict[str, Exception]) -> OutboxState:
        """Record a delivery's outcome: done, due again later, or FAILED."""
        now = self.kehu.clock.now()
        if not failures:
            values: dict[str, Any] = {"state": OutboxState.DONE, "finished_at": now, "remaining": None}
            values["last_error"] = ""
            if _has_secret(row.arguments):
                values["arguments"] = _erase_secrets(row.arguments)
        else:
            waits = [e.seconds for e in failures.values() if isinstance(e, RetryLater)]
            errors = {name: e for name, e in failures.items() if not isinstance(e, RetryLater)}
            values = {"remaining": sorted(failures) if row.kind is OutboxKind.EVENT else None}
            if errors:
                attempts = row.attempts + 1
                values["attempts"] = attempts
                values["last_error"] = "; ".join(f"{n}: {type(e).__name__}: {e}" for n, e in errors.items())[
                    :ERROR_CHARS
                ]
                schedule = self.settings.retry_seconds
                permanent = any(isinstance(e, (GoneError, GiveUp)) for e in errors.values())
                if attempts > len(schedule) or permanent:
                    values.update(state=OutboxState.FAILED, finished_at=now)
                    log.error(
                        "event %s (%s) FAILED after %d attempt(s): %s", row.id, row.name, attempts, values["last_error"]
                    )
                else:
                    wait = max([schedule[attempts - 1], *waits])
                    values["due_at"] = now + dt.timedelta(seconds=wait)
            else:
                values["due_at"] = now + dt.timedelta(seconds=max(waits))
                reasons = "; ".join(f"{n}: {e}" for n, e in failures.items())
                values["last_error"] = f"waiting: {reasons}"[:ERROR_CHARS]
        values.update(locked_by=None, locked_until=None)
        updated = await OutboxEvent.filter(id=row.id, locked_by=row.locked_by).update(**values)
        if not updated:  # our claim ran out and another worker took the row over
            log.warning("event %s (%s): claim lost before its outcome was recorded", row.id, row.name)
        for name, value in values.items():
            setattr(row, name, value)
        return values.get("state", OutboxState.PENDING)

    # -- periodic jobs ------------------------------------------------------------------

    async def schedule_jobs(self) -> None:
        """Write a row for every job whose next slot has begun (once per slot and
        deployment: the slot's ``dedupe_key`` is unique)."""
        now = self.kehu.clock.now()
        for job in list(self.jobs.values()):
            slot = job.slot(now)
            if slot <= job.scheduled:
                continue
            job.scheduled = slot
            try:
                await OutboxEvent.create(
                    kind=OutboxKind.JOB,
                    name=job.name,
                    arguments={"slot": slot},
                    dedupe_key=f"job:{job.name}:{slot}"[:200],
                    due_at=now,
                    created_at=now,
                )
            except IntegrityError:  # another worker wrote this slot first
                pass

    # -- the background loop ---------------------------------------------------------------

    async def start(self) -> None:
        """Start this worker's background delivery (``[events] poll_seconds`` > 0).
        On SQLite (one machine), claims of processes of this host that are gone — a
        killed server — are released at once instead of waiting for them to run out."""
        if self.settings.poll_seconds <= 0 or self._task is not None:
            return
        if not self.postgres:
            await self.release_dead_claims()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="kehu outbox")

    async def release_dead_claims(self) -> int:
        """Release the claims of this host's processes that no longer run (a claim
        names its worker ``host:pid:…``); a live process's — a CLI import next to
        the server — are left alone."""
        host = socket.gethostname()[:32]
        dead = []
        for row in await OutboxEvent.filter(state=OutboxState.PENDING, locked_by__not_isnull=True).only(
            "id", "locked_by"
        ):
            claim_host, _, rest = (row.locked_by or "").partition(":")
            pid = rest.partition(":")[0]
            if claim_host == host and pid.isdigit() and not _process_alive(int(pid)):
                dead.append(row.id)
        if dead:
            await OutboxEvent.filter(id__in=dead).update(locked_by=None, locked_until=None)
            log.info("released %d event(s) a stopped process had claimed", len(dead))
        return len(dead)

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        prune_every = 3600.0
        last_prune = 0.0
        while True:
            try:
                report = await self.run_once()
                if time.monotonic() - last_prune > prune_every:
                    last_prune = time.monotonic()
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: try again at the next tick
                log.exception("event delivery pass failed")
                report = DeliveryReport()
            if report.ids:
                continue  # more may be waiting
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_seconds)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def prune(self) -> int:
        """Delete delivered rows older than ``keep_days``."""
        cutoff = self.kehu.clock.now() - dt.timedelta(days=self.settings.keep_days)
        return await OutboxEvent.filter(state=OutboxState.DONE, due_at__lt=cutoff).delete()

    # -- for admins -----------------------------------------------------------------------

    async def retry(self, event_id: int) -> OutboxEvent:
        """Make a FAILED (or waiting) event due now, with a fresh set of attempts."""
        row = await OutboxEvent.get_or_none(id=event_id)
        if row is None or row.state is OutboxState.DONE:
            raise NotFound("no failed or pending event with this id", field="id")
        now = self.kehu.clock.now()
        await OutboxEvent.filter(id=row.id).update(
            state=OutboxState.PENDING, attempts=0, due_at=now, finished_at=None, locked_by=None, locked_until=None
        )
        self.wake()
        return await OutboxEvent.get(id=row.id)

    async def listing(self, state: OutboxState, limit: int = 50) -> list[OutboxEvent]:
        """Rows in ``state``, newest first (FAILED: the dead letters)."""
        return await OutboxEvent.filter(state=state).order_by("-id").limit(limit)

    async def depth(self) -> dict[str, int]:
        """Rows waiting (PENDING: due, retrying later, or being delivered) and dead
        letters (FAILED)."""
        return {state.value: await OutboxEvent.filter(state=state).count() for state in _OPEN_STATES}


_OPEN_STATES = (OutboxState.PENDING, OutboxState.FAILED)
