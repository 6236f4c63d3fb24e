"""Signed-in WebSocket connections, kept honest for as long as they stay open.

A WebSocket is authenticated once, at ``connection_init``; a session can end long
before the socket does (logout, a revoked API token, a password change, a
deactivated account, an expired token). So the socket is only a transport:

* every operation started on it reads its token from the database again, exactly
  like an HTTP request (``LiveSession.refresh``), with the current role and team;
* before every event it receives, the session is checked in memory
  (``LiveSession.current``): ended, expired, or invalidated and then read again;
* a write that touches an account owner or a token (any write recorded with
  ``record_change("AccountOwner" | "AccessToken", …)``, so no new code path can
  forget it) invalidates the sessions concerned: in its own transaction on
  PostgreSQL (``NOTIFY kehu_sessions``, delivered to every worker before any later
  event), in memory right after the commit on SQLite. Invalidated sessions are read
  again at once, and those that ended are closed with code 4401 and a reason;
* a sweep closes sessions whose token expired (by the app's clock) and reads every
  session again at least every ``[auth] socket_recheck_seconds`` — the backstop for
  changes made outside kehu (SQL by hand) or a lost notification.

Nothing leaves a socket whose session ended (``KehuWSHandler.send_message``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..credentials import TokenCheck, check_token

if TYPE_CHECKING:
    from ..access import Viewer
    from .runtime import Kehu

log = logging.getLogger(__name__)

#: The close code of a socket whose session ended (graphql-transport-ws: Unauthorized).
CLOSE_SESSION_ENDED = 4401
#: The close code of a socket refused because its account has too many open.
CLOSE_TOO_MANY_SOCKETS = 4429

REASONS = {
    "unknown": "session ended: the token is not valid",
    "revoked": "session ended: signed out or token revoked",
    "expired": "session ended: the token expired",
    "deactivated": "session ended: the account was deactivated",
    "password": "session ended: the password was changed",
}
SWEEP_SECONDS = 0.25


class SessionEnded(Exception):
    def __init__(self, reason: str):
        super().__init__(REASONS.get(reason, reason))
        self.reason = reason


class TooManySockets(Exception):
    pass


class LiveSession:
    """One signed-in WebSocket: its token (by digest, never the secret), its current
    viewer, and how to close it."""

    def __init__(self, registry: LiveSessions, digest: str, check: TokenCheck):
        assert check.viewer is not None
        self.registry = registry
        self.digest = digest
        self.token_id = check.token_id
        self.owner_id = check.viewer.id
        self.viewer: Viewer = check.viewer
        self.expires_at = check.expires_at
        self.credential = check.credential
        self.ended: str | None = None
        self.checked = time.monotonic()
        self.generation = 0  # bumped by each invalidation; a read clears only what it saw
        self._read = 0
        self._lock = asyncio.Lock()
        self._closer: Callable[[int, str], Awaitable[None]] | None = None

    def bind(self, closer: Callable[[int, str], Awaitable[None]]) -> None:
        """How to close the socket when the session ends."""
        self._closer = closer
        if self.ended:
            self.registry.spawn(closer(CLOSE_SESSION_ENDED, REASONS[self.ended]))

    @property
    def stale(self) -> bool:
        return self._read != self.generation

    def invalidate(self) -> None:
        self.generation += 1

    async def refresh(self) -> Viewer:
        """Read the token from the database again (each operation started on the
        socket). Raises ``SessionEnded``."""
        async with self._lock:
            if self.ended is None:
                seen = self.generation
                try:
                    check = await check_token(self.registry.kehu, self.digest)
                except Exception:
                    log.exception("could not check a live session; it is kept for the next check")
                    raise
                self._apply(check, seen)
        if self.ended is not None:
            raise SessionEnded(self.ended)
        return self.viewer

    async def current(self) -> Viewer:
        """The viewer for the next event: from memory, unless the session was
        invalidated, is due for its periodic check, or expired. Raises ``SessionEnded``."""
        if self.ended is not None:
            raise SessionEnded(self.ended)
        if self.expires_at is not None and self.expires_at <= self.registry.kehu.clock.now():
            self.end("expired")
            raise SessionEnded("expired")
        if self.stale or time.monotonic() - self.checked > self.registry.recheck_seconds:
            return await self.refresh()
        return self.viewer

    def _apply(self, check: TokenCheck, seen: int) -> None:
        self._read = seen
        self.checked = time.monotonic()
        if check.credential and check.credential != self.credential:
            self.end("password")  # (which revokes the account's other sessions: say why)
        elif check.viewer is None:
            self.end(check.ended or "unknown")
        else:
            self.viewer = check.viewer
            self.expires_at = check.expires_at

    def end(self, reason: str) -> None:
        """The session is over: nothing more is sent, and the socket is closed."""
        if self.ended is not None:
            return
        self.ended = reason
        self.registry.forget(self)
        log.info("live session of owner %s ended: %s", self.owner_id, reason)
        if self._closer is not None:
            self.registry.spawn(self._closer(CLOSE_SESSION_ENDED, REASONS[reason]))


class LiveSessions:
    """The live sessions of this process (``kehu.sessions``)."""

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.recheck_seconds = kehu.config.auth.socket_recheck_seconds
        self.max_per_owner = kehu.config.limits.max_sockets_per_user
        self._by_owner: dict[int, set[LiveSession]] = defaultdict(set)
        self._tasks: set[asyncio.Task] = set()
        self._sweeper: asyncio.Task | None = None

    async def open(self, token: str) -> LiveSession | None:
        """A live session for ``token``, or None when it does not sign in.
        Raises ``TooManySockets`` over ``[limits] max_sockets_per_user``."""
        from ..ids import digest as token_digest

        if not token or len(token) > 200:
            return None
        digest = token_digest(token)
        check = await check_token(self.kehu, digest)
        if check.viewer is None:
            return None
        if self.max_per_owner and len(self._by_owner[check.viewer.id]) >= self.max_per_owner:
            raise TooManySockets(
                f"too many live connections for this account (at most {self.max_per_owner} per server process)"
            )
        session = LiveSession(self, digest, check)
        self._by_owner[session.owner_id].add(session)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep())
        return session

    def forget(self, session: LiveSession) -> None:
        sessions = self._by_owner.get(session.owner_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self._by_owner[session.owner_id]

    def close(self, session: LiveSession) -> None:
        """The socket went away by itself."""
        self.forget(session)

    @property
    def count(self) -> int:
        return sum(len(s) for s in self._by_owner.values())

    def all(self) -> list[LiveSession]:
        return [s for sessions in self._by_owner.values() for s in sessions]

    def invalidate(self, token_ids=(), owner_ids=(), *, everything: bool = False) -> None:
        """Sessions of these tokens or owners (or all) must be read again before
        their next event; they are read at once, so those that ended close now."""
        tokens, owners = set(token_ids), set(owner_ids)
        for session in self.all():
            if everything or session.owner_id in owners or session.token_id in tokens:
                session.invalidate()
                self.spawn(self._recheck(session))

    async def _recheck(self, session: LiveSession) -> None:
        if session._lock.locked():
            return  # a read is under way; it will see what this one would
        with contextlib.suppress(SessionEnded):
            await session.current()

    def spawn(self, coroutine: Awaitable) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live session task failed", exc_info=task.exception())

    async def _sweep(self) -> None:
        """Expiry by the app's clock, and the periodic check; ends with the last session."""
        while self._by_owner:
            await asyncio.sleep(SWEEP_SECONDS)
            for session in self.all():
                if self._due(session):
                    self.spawn(self._recheck(session))

    def _due(self, session: LiveSession) -> bool:
        expired = session.expires_at is not None and session.expires_at <= self.kehu.clock.now()
        return expired or session.stale or time.monotonic() - session.checked > self.recheck_seconds

    async def stop(self) -> None:
        tasks = [t for t in (self._sweeper, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
