"""Time is injected, never read ad hoc: tests swap in a ``FrozenClock``."""

from __future__ import annotations

import asyncio
import datetime as dt


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
