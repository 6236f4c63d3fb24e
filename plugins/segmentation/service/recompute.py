"""Running the pipeline: a full recompute in batches, or one customer against
the last run's borders and CLV model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import weakref
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tortoise.connection import connections
from tortoise.transactions import in_transaction

from kehu import jobs
from kehu.errors import ValidationError
from kehu.models import InteractionKind

from ..models import RecomputeRun, Segment, SegmentChange, SegmentKind
from ..settings import SegmentationSettings
from . import clv
from .scoring import AsOf, classify_sql, history_and_swap_sql, inputs_sql, score_borders, scored_inputs_sql
from .segments import refresh_memberships, refresh_rule_segment
from .sql import STAGING, Customers, Dialect, IdRange, IdSet, Params, _exec

if TYPE_CHECKING:
    from kehu import Kehu


log = logging.getLogger(__name__)


# One full or incremental recompute at a time per process: they share the staging
# table. (Several workers recomputing at once on PostgreSQL would need an advisory
# lock; run the schedule in one worker.)
_locks: "weakref.WeakKeyDictionary[Any, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _lock(kehu: Kehu) -> asyncio.Lock:
    lock = _locks.get(kehu)
    if lock is None:
        lock = _locks[kehu] = asyncio.Lock()
    return lock


@dataclass
class RecomputeResult:
    customers: int
    population: int
    changes: int
    seconds: float
    run_id: int
    as_of: dt.date | None = None
    clv_model: dict[str, Any] | None = None
    # Seconds per step: inputs, borders, clv_fit, clv_cells, classify, segments.
    steps: dict[str, float] | None = None


async def as_of_for(
    kehu: Kehu, s: SegmentationSettings, date: dt.date | None = None, customer_ids: Collection[int] | None = None
) -> AsOf:
    """The as-of of a computation: ``date``, else the ``as_of`` setting, else today
    on the business calendar. A date after today is refused (there is nothing to
    know about it yet). ``customer_ids``: the computation covers only these."""
    now = kehu.clock.now()
    calendar = kehu.calendar
    today = calendar.date_of(now)
    date = date or s.as_of or today
    if date > today:
        raise ValidationError(
            f"{date.isoformat()} is after today ({today.isoformat()})", field="asOf", code="FUTURE_DATE"
        )
    d = Dialect()
    offsets: tuple = ()
    if not d.postgres and _fixed_offset(calendar.zone):  # one offset at all times: no span to look up
        offsets = ((now, int(now.astimezone(calendar.zone).utcoffset().total_seconds())),)  # type: ignore[union-attr]
    elif not d.postgres:  # SQLite turns times into dates with the zone's offsets over the data's span
        from kehu.models import Interaction

        qs = Interaction.filter(kind=InteractionKind.PURCHASE)
        if customer_ids is not None:
            qs = qs.filter(customer_id__in=list(customer_ids))
        found = await qs.order_by("occurred_at").limit(1).values_list("occurred_at", flat=True)
        first = found[0] if found else None
        start = min(first or now, now) - dt.timedelta(days=1)
        offsets = tuple(calendar.utc_offsets(start, max(now, calendar.end_of(date))))
    return AsOf(date=date, now=now, calendar=calendar, offsets=offsets)


def _fixed_offset(zone: dt.tzinfo) -> bool:
    """A zone whose UTC offset never changed (UTC itself, ``datetime.timezone``)."""
    return isinstance(zone, dt.timezone) or getattr(zone, "key", None) in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu")


async def recompute_all(
    kehu: Kehu,
    *,
    progress: Callable[[int, int], object] | None = None,
    cause: str = "RECOMPUTE",
    as_of: dt.date | None = None,
) -> RecomputeResult:
    """Full recompute of every customer, then of every rule segment, in batches,
    as of ``as_of`` (default: the ``as_of`` setting, else today).

    Each customer whose value tier, lifecycle stage or segments changed gets one
    history row per change, with ``cause`` (``"IMPORT"`` after a bulk load: the
    state before the load and after it, not a row per imported record)."""
    async with _lock(kehu):
        return await _recompute_all(kehu, progress, cause, as_of)


async def _recompute_all(
    kehu: Kehu, progress, cause: str = "RECOMPUTE", as_of: dt.date | None = None
) -> RecomputeResult:
    import time

    started = time.perf_counter()
    steps: dict[str, float] = {}
    mark = started

    def lap(name: str) -> None:
        nonlocal mark
        steps[name] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()

    s = kehu.settings_for("segmentation", SegmentationSettings)
    at = await as_of_for(kehu, s, as_of)
    now = at.now
    d = Dialect()
    conn = connections.get("default")
    previous = await latest_run()
    run = await RecomputeRun.create(started_at=now, as_of=at.date, timezone=at.calendar.name)
    changes_before = await SegmentChange.all().count()
    bounds = await conn.execute_query_dict("SELECT MIN(id) AS lo, MAX(id) AS hi, COUNT(*) AS n FROM kehu_customer")
    lo, hi, total = bounds[0]["lo"], bounds[0]["hi"], int(bounds[0]["n"])
    batches = []
    if lo is not None:
        step = s.batch_size
        batches = [(b, min(b + step - 1, int(hi))) for b in range(int(lo), int(hi) + 1, step)]
    await _empty_staging(conn, d)
    # Step 1: inputs. SQLite: one short transaction per batch, as its one writer
    # lets nothing else write meanwhile. PostgreSQL: one statement for the whole
    # base. A batch there reads its customers' interactions through the index, and
    # they lie all over the table (interactions arrive in time order, not by
    # customer): at 1,000,000 customers each batch of 20,000 read 104,000 of the
    # table's pages, every batch most of the table again (63 s for the step,
    # against 1.5 s at 100,000). One statement reads the table once (6.8 s), and
    # writes only to staging, so no writer waits on it.
    inputs = [(lo, hi)] if d.postgres and batches else batches
    for b_lo, b_hi in inputs:
        async with in_transaction() as tx:
            await _exec(tx, *inputs_sql(d, s, at, IdRange(int(b_lo), int(b_hi))))
    lap("inputs")
    async with in_transaction() as tx:  # step 2
        borders = await score_borders(tx, s)
    lap("borders")
    model = await clv.fit_model(conn, d, s, at, now, previous.clv_model if previous else None)  # step 3
    lap("clv_fit")
    if clv.uses_cells(model):
        async with in_transaction() as tx:
            await clv.write_cells(tx, d, model)
    lap("clv_cells")
    done = 0
    for b_lo, b_hi in batches:  # steps 4-5
        ids = IdRange(b_lo, b_hi)
        async with in_transaction() as tx:
            for sql, params in classify_sql(d, s, borders, ids):
                await _exec(tx, sql, params)
            await _exec(tx, *clv.clv_sql(d, s, model, ids))
            for sql, params in history_and_swap_sql(d, ids, now, cause, run.id, fresher_than=now):
                await _exec(tx, sql, params)
        done += 1
        if progress:
            progress(done, len(batches))
    await _empty_staging(conn, d)
    lap("classify")
    for segment in await Segment.filter(kind=SegmentKind.RULE).order_by("id"):  # step 6
        async with in_transaction() as tx:
            await refresh_rule_segment(tx, kehu, segment, now, cause)
    run.finished_at = kehu.clock.now()
    run.population = borders["population"]
    run.customers = total
    run.thresholds = borders
    run.clv_model = model
    run.changes = await SegmentChange.all().count() - changes_before
    await run.save()
    lap("segments")
    return RecomputeResult(
        total, run.population, run.changes, time.perf_counter() - started, run.id, at.date, model, steps
    )


async def scheduled_recompute(kehu: Kehu) -> None:
    """The in-server schedule (kehu.jobs, one worker): a full recompute."""
    result = await recompute_all(kehu)
    log.info("scheduled recompute: %d customers, %d changes, %.1fs", result.customers, result.changes, result.seconds)


# The periodic full recompute.
SCHEDULE = "segmentation.recompute"


def start_scheduler(kehu: Kehu) -> None:
    """A full recompute every ``recompute_interval_minutes`` in one worker
    (kehu.jobs), however many serve."""
    minutes = kehu.settings_for("segmentation", SegmentationSettings).recompute_interval_minutes
    if minutes:
        jobs.every(kehu, SCHEDULE, minutes * 60, lambda: scheduled_recompute(kehu))


async def stop_scheduler(kehu: Kehu) -> None:
    await jobs.stop(kehu, SCHEDULE)


async def latest_run() -> RecomputeRun | None:
    return await RecomputeRun.filter(finished_at__isnull=False).order_by("-id").first()


# The last finished run each app re-scored against. A run's row does not change
# once finished, so a re-score reads only the newest one's id, and the row (its
# borders and CLV model, parsed from JSON) only when a newer run finished, in this
# worker or another.
_runs: "weakref.WeakKeyDictionary[Any, RecomputeRun]" = weakref.WeakKeyDictionary()


async def _latest_run_for(kehu: Kehu) -> RecomputeRun | None:
    found = await connections.get("default").execute_query_dict(
        f"SELECT MAX(id) AS id FROM {RecomputeRun._meta.db_table} WHERE finished_at IS NOT NULL"
    )
    newest = found[0]["id"]
    if newest is None:
        return None
    run = _runs.get(kehu)
    if run is None or run.id != newest:
        run = _runs[kehu] = await RecomputeRun.get(id=newest)
    return run


#: The most customers re-scored together; more that ask at once wait for the next.
RESCORE_BATCH = 200


@dataclass
class _Rescores:
    """Customers waiting to be re-scored together, with the cause each was asked
    for, and the outcome every one of their callers waits on."""

    causes: dict[int, str]
    done: asyncio.Future[None]


_waiting: "weakref.WeakKeyDictionary[Any, _Rescores]" = weakref.WeakKeyDictionary()


async def recompute_customer(kehu: Kehu, customer_id: int, cause: str) -> None:
    """Re-score one customer against the last full run's borders (its own inputs are
    fresh; the rest of the base moves at the next full run), record the changes,
    and re-evaluate its rule-segment memberships. Without a usable run yet, the
    whole base is recomputed once.

    Re-scores run one at a time (they share the staging table). Those asked for
    while one runs are done together by the next, in one pass of the pipeline and
    one transaction: sixteen purchases logged at once cost two passes, not sixteen.
    Each caller returns once its own customer is re-scored, or raises what made
    its pass fail (the event is then retried like any failed handler)."""
    batch = _waiting.get(kehu)
    if batch is None or len(batch.causes) >= RESCORE_BATCH:
        batch = _waiting[kehu] = _Rescores({}, asyncio.get_running_loop().create_future())
    batch.causes.setdefault(customer_id, cause)
    async with _lock(kehu):
        if not batch.done.done():  # the first of its callers to get here runs it
            await asyncio.sleep(0)  # callers already started (a gather, a delivery batch) join first
            if _waiting.get(kehu) is batch:
                del _waiting[kehu]  # who asks from now on waits for the next pass
            try:
                await _rescore(kehu, batch.causes)
            except Exception as exc:
                batch.done.set_exception(exc)
            else:
                batch.done.set_result(None)
            # Cancelled while running: not done, so the next of its callers runs it.
    await batch.done


async def _rescore(kehu: Kehu, causes: dict[int, str]) -> None:
    """One pass of the pipeline for ``causes``' customers (``_lock`` held)."""
    run = await _latest_run_for(kehu)
    if run is None or (run.population == 0 and await _has_purchases(causes)):
        await _recompute_all(kehu, None)
        return
    s = kehu.settings_for("segmentation", SegmentationSettings)
    at = await as_of_for(kehu, s, customer_ids=causes)
    now = at.now
    d = Dialect()
    model = run.clv_model or None
    by_cause: dict[str, list[int]] = {}
    for customer_id, cause in sorted(causes.items()):
        by_cause.setdefault(cause, []).append(customer_id)
    async with in_transaction() as tx:
        for cause, members in by_cause.items():
            ids: Customers = IdRange(members[0], members[0]) if len(members) == 1 else IdSet(tuple(members))
            await _clear_staging(tx, d, ids)
            await _exec(tx, *scored_inputs_sql(d, s, at, run.thresholds, ids))
            if clv.uses_cells(model):
                await clv.write_cells(tx, d, model, ids)
            await _exec(tx, *clv.clv_sql(d, s, model, ids))
            for sql, params in history_and_swap_sql(d, ids, now, cause, run.id):
                await _exec(tx, sql, params)
            await _clear_staging(tx, d, ids)
        for segment in await Segment.filter(kind=SegmentKind.RULE).order_by("id").using_db(tx):
            await refresh_memberships(tx, kehu, segment, causes, now)


#: A bulk load re-scores the customers it wrote while they are at most this share
#: of the customers the last full run scored; a larger load moves the borders
#: themselves, and the whole base is recomputed.
LOADED_SHARE = 0.1


async def recompute_loaded(kehu: Kehu, customer_ids: Collection[int] | None, cause: str) -> None:
    """After a bulk load (``kehu_bulk_loaded``): re-score the customers it wrote, as
    a purchase re-scores its customer, in passes of ``RESCORE_BATCH``, each
    recording the customers' changes with ``cause``. Its cost follows the load, not
    the base: ten thousand rows into a base of a million re-score ten thousand
    customers. A full recompute instead when the load named no customers (it
    wrote more than ``kehu_bulk_loaded`` lists), when there is no usable run yet,
    or when the load is more than ``LOADED_SHARE`` of the base."""
    run = await latest_run()
    if (
        customer_ids is None
        or run is None
        or run.population == 0
        or len(customer_ids) > LOADED_SHARE * (run.customers or 0)
    ):
        await recompute_all(kehu, cause=cause)
        return
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), RESCORE_BATCH):
        async with _lock(kehu):  # released between passes: purchases' re-scores go in between
            await _rescore(kehu, dict.fromkeys(ids[start : start + RESCORE_BATCH], cause))


async def _has_purchases(customer_ids: Collection[int]) -> bool:
    from kehu.models import Interaction

    return await Interaction.filter(customer_id__in=list(customer_ids), kind=InteractionKind.PURCHASE).exists()


async def _empty_staging(conn, d: Dialect) -> None:
    """Empty the staging table before and after a full run.

    PostgreSQL: ``TRUNCATE``. A ``DELETE`` of every row leaves each version the run
    wrote (inserted, then updated by the classify steps) as a dead tuple until
    autovacuum gets there — measured after one run over 100,000 customers: 392,226
    dead rows, 71 MB — and every scan of staging reads past them till then.
    ``TRUNCATE`` gives the file back at once. Its ACCESS EXCLUSIVE lock waits for
    the re-scores other workers are running in their transactions and holds new
    ones back for the moment it takes; a re-score clears its own rows before it
    commits, so none of theirs is lost. Run outside a transaction here, so the
    lock ends with the statement. SQLite: a ``DELETE`` without ``WHERE`` is its
    own truncate."""
    await conn.execute_query(f"TRUNCATE {STAGING}" if d.postgres else f"DELETE FROM {STAGING}")


async def _clear_staging(conn, d: Dialect, ids: Customers) -> None:
    params = Params(d)
    await _exec(conn, f"DELETE FROM {STAGING} WHERE {ids.on('customer_id', params)}", params)
