"""Time is injected, never read ad hoc: tests swap in a ``FrozenClock``."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools


class SystemClock:
    """The real clock: ``now()`` in UTC; ``sleep`` waits."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FrozenClock:
    """A clock that moves only when told: ``clock.advance(minutes=16)``."""

    def __init__(self, start: dt.datetime | None = None):
        self._now = start or dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        """Records the pause instead of waiting (time does not move by itself)."""
        self.slept.append(seconds)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> dt.datetime:
        self._now += dt.timedelta(**delta)
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = when


Clock = SystemClock | FrozenClock


class BusinessCalendar:
    """Days, weeks and months as the business counts them: in ``[kehu] timezone``
    (``kehu.calendar``), not in UTC. A purchase at 23:30 in Shanghai happened on
    that Shanghai day, though it is 15:30 UTC.

    Times stay stored in UTC; this turns them into calendar dates and back. The
    start of a day is its first instant (where midnight does not exist because the
    clocks jump, the instant of the jump).
    """

    def __init__(self, zone: dt.tzinfo = dt.UTC):
        self.zone = zone

    @property
    def name(self) -> str:
        return str(getattr(self.zone, "key", None) or self.zone)

    def date_of(self, moment: dt.datetime) -> dt.date:
        """The calendar date of ``moment`` (an aware datetime)."""
        return moment.astimezone(self.zone).date()

    def start_of(self, day: dt.date) -> dt.datetime:
        """The first instant of ``day``, as an aware UTC datetime."""
        return dt.datetime.combine(day, dt.time(), tzinfo=self.zone).astimezone(dt.UTC)

    def end_of(self, day: dt.date) -> dt.datetime:
        """The first instant after ``day`` (exclusive end), UTC."""
        return self.start_of(day + dt.timedelta(days=1))

    def week_of(self, moment: dt.datetime) -> dt.date:
        """The Monday of ``moment``'s ISO week."""
        day = self.date_of(moment)
        return day - dt.timedelta(days=day.weekday())

    def month_of(self, moment: dt.datetime) -> dt.date:
        """The first day of ``moment``'s month."""
        return self.date_of(moment).replace(day=1)

    def utc_offsets(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, int]]:
        """The zone's UTC offsets (seconds) between two instants: ``[(from, offset)]``,
        the first ``from`` being ``start``. One entry for a zone without daylight
        saving time in that span (Asia/Shanghai since 1992); SQL that has no time
        zone database (SQLite) turns a time into a local date with them."""
        start, end = start.astimezone(dt.UTC), max(start, end).astimezone(dt.UTC)
        out = [(start, _offset(self.zone, start))]
        for year in range(start.year, end.year + 1):
            for at, offset in _year_changes(self.zone, year):
                if start < at <= end and offset != out[-1][1]:
                    out.append((at, offset))
        return out


def _offset(zone: dt.tzinfo, moment: dt.datetime) -> int:
    return int(moment.astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]


@functools.lru_cache(maxsize=512)
def _year_changes(zone: dt.tzinfo, year: int) -> tuple[tuple[dt.datetime, int], ...]:
    """The instants in ``year`` (UTC) at which ``zone`` changes its offset. Sampled
    every 12 hours (zones change at most a few times a year, never twice within
    12 hours), each change narrowed down to the second."""
    out = []
    at, end = dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    current = _offset(zone, at - dt.timedelta(seconds=1))
    step = dt.timedelta(hours=12)
    while at < end:
        if _offset(zone, at) != current:
            lo, hi = at - step, at  # the change happens in (lo, hi]
            if lo < dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(seconds=1):
                lo = dt.datetime(year, 1, 1, tzinfo=dt.UTC) - dt.timedelta(seconds=1)
            while hi - lo > dt.timedelta(seconds=1):
                mid = (lo + (hi - lo) / 2).replace(microsecond=0)
                if mid <= lo:
                    break
                if _offset(zone, mid) == current:
                    lo = mid
                else:
                    hi = mid
            current = _offset(zone, hi)
            out.append((hi, current))
        at += step
    return tuple(out)
