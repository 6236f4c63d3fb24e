"""A graphql-transport-ws client over Starlette's TestClient, with time limits:
what the live-session and subscription tests speak to the app."""

from __future__ import annotations

import time
from typing import Any

import anyio

SUBSCRIBE = "subscription($t: [String!]) { events(topics: $t) { topic nodeId customerId data } }"


class Closed(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class LiveSocket:
    """``with LiveSocket(app, token) as live: live.subscribe(); live.next()``."""

    def __init__(self, app, token: str | None, *, init: bool = True):
        self.app = app
        self._ws = app.client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
        self.socket = self._ws.__enter__()
        self.ids = 0
        if init:
            self.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"} if token else {}})

    def __enter__(self) -> LiveSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ws.__exit__(None, None, None)
        except Exception:
            pass

    def send(self, message: dict[str, Any]) -> None:
        self.socket.send_json(message)

    def receive(self, within: float = 5) -> dict[str, Any]:
        """The next message; ``Closed`` when the server closed the socket;
        ``TimeoutError`` when nothing came ``within`` seconds."""

        async def get():
            with anyio.fail_after(within):
                return await self.socket._send_rx.receive()

        message = self.socket.portal.call(get)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason") or "")
        import json

        return json.loads(message["text"])

    def acknowledged(self) -> dict[str, Any]:
        message = self.receive()
        assert message["type"] == "connection_ack", message
        return message

    def silent(self, seconds: float = 0.5) -> None:
        """Nothing arrives for ``seconds`` (no message, no close)."""
        try:
            message = self.receive(within=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {message}")

    def closed(self, within: float = 1.0) -> Closed:
        """The server closes the socket within ``within`` seconds (messages already
        on their way before it are skipped)."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            try:
                message = self.receive(within=max(left, 0.001))
            except Closed as closed:
                return closed
            except TimeoutError:
                raise AssertionError(f"the socket was not closed within {within}s") from None
            assert message.get("type") in ("next", "complete", "pong"), message

    def subscribe(self, topics: list[str] | None = None) -> str:
        """Start the events subscription and wait until the server holds it."""
        self.ids += 1
        op = str(self.ids)
        before = self.app.kehu.events.subscriber_count
        self.send({"id": op, "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {"t": topics}}})
        deadline = time.monotonic() + 5
        while self.app.kehu.events.subscriber_count == before:
            assert time.monotonic() < deadline, "subscription did not start"
            time.sleep(0.01)
        return op

    def start(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self.ids += 1
        op = str(self.ids)
        self.send({"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}})
        return op

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation on the socket; its ``next`` payload."""
        op = self.start(query, variables)
        while True:
            message = self.receive()
            if message.get("type") == "complete":
                continue  # the end of an earlier operation
            assert message["id"] == op and message["type"] in ("next", "error"), message
            return message["payload"]

    def event(self, within: float = 5) -> dict[str, Any]:
        while True:
            message = self.receive(within=within)
            if message.get("type") != "complete":  # the end of a query run meanwhile
                break
        assert message["type"] == "next", message
        return message["payload"]["data"]["events"]
