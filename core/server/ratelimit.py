"""Rate limits in cost points per minute, per caller.

A caller is an API token or sign-in session, or — for anonymous requests — the
client address. Fixed one-minute windows. With PostgreSQL the counts live in the
database (one UPSERT per request), so several workers share one budget; with
SQLite, which kehu serves from one process, they live in memory: a database write
per request would put an fsync on every read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from tortoise.connection import connections

from .db import is_sqlite

if TYPE_CHECKING:
    from .runtime import Kehu


class RateLimiter:
    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.limit = kehu.config.limits.rate_per_minute
        self.shared = not is_sqlite(kehu.config.kehu.database_url)
        self._local: dict[tuple[str, int], int] = defaultdict(int)
        self._local_minute = -1

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    async def spend(self, caller: str, cost: int) -> float | None:
        """Charge ``cost`` to ``caller``; returns the seconds to wait if the caller
        is over its budget for this minute, else None."""
        now = self.kehu.clock.now().timestamp()
        minute = int(now // 60)
        used = await (self._spend_shared if self.shared else self._spend_local)(caller, minute, cost)
        if used > self.limit:
            return 60 - (now % 60)
        return None

    async def _spend_local(self, caller: str, minute: int, cost: int) -> int:
        if minute != self._local_minute:
            self._local = defaultdict(int)
            self._local_minute = minute
        self._local[(caller, minute)] += cost
        return self._local[(caller, minute)]

    async def _spend_shared(self, caller: str, minute: int, cost: int) -> int:
        db = connections.get("default")
        rows = await db.execute_query_dict(
            "INSERT INTO kehu_rate_bucket (key, used, minute) VALUES ($1, $2, $3) "
            "ON CONFLICT (key) DO UPDATE SET used = kehu_rate_bucket.used + EXCLUDED.used RETURNING used",
            [f"{caller}@{minute}", cost, minute],
        )
        if minute % 10 == 0 and rows[0]["used"] == cost:
            # First request of every tenth minute tidies up old windows.
            await db.execute_query("DELETE FROM kehu_rate_bucket WHERE minute < $1", [minute - 1])
        return rows[0]["used"]
