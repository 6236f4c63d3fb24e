"""A small HTTP/1.1 keep-alive client on asyncio streams, and the load runner.

A general-purpose client (httpx) spends more CPU per request than the servers under
test on their fastest routes; on a 2-core machine that CPU is taken from the server.
This one does the minimum: write one request, read the status line, the headers and
a ``Content-Length`` (or chunked) body.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


class HTTPConnection:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> "HTTPConnection":
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**24)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = self.reader = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            await self.open()
            return await self._request(method, path, body, headers)
        try:
            return await self._request(method, path, body, headers)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            # The server closed an idle keep-alive connection before reading this request.
            await self.close()
            await self.open()
            return await self._request(method, path, body, headers)

    async def _request(self, method, path, body, headers):
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if body or method == "POST":
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs:
            data = await self.reader.readexactly(int(hdrs["content-length"]))
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(parts)
        else:
            data = await self.reader.read()
            hdrs["connection"] = "close"
        if hdrs.get("connection", "").lower() == "close":
            await self.close()
        return status, hdrs, data


@dataclass
class Sample:
    """Latencies (client round trip and server time, seconds) of a set of requests."""

    latencies: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)
    wall: float = 0.0
    requests: int = 0
    failures: list[str] = field(default_factory=list)

    def extend(self, other: "Sample") -> None:
        self.latencies += other.latencies
        self.server += other.server
        self.wall += other.wall
        self.requests += other.requests
        self.failures += other.failures

    @staticmethod
    def _pct(values: list[float], p: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        k = (len(ordered) - 1) * p
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    def p(self, q: float) -> float:
        return self._pct(self.latencies, q)

    def server_p(self, q: float) -> float:
        return self._pct(self.server, q)

    @property
    def throughput(self) -> float:
        return self.requests / self.wall if self.wall else float("nan")


async def run_batch(
    host: str,
    port: int,
    concurrency: int,
    total: int,
    make_request,
    check=None,
    conns: list[HTTPConnection] | None = None,
) -> Sample:
    """Send ``total`` requests over ``concurrency`` keep-alive connections.

    ``make_request(i)`` returns ``(method, path, body, headers)``; ``check(status,
    body)`` returns an error string or None (recorded, never raised, so one bad
    response does not hide the rest).
    """
    own = conns is None
    if own:
        conns = [await HTTPConnection(host, port).open() for _ in range(concurrency)]
    sample = Sample()
    counter = iter(range(total))

    async def worker(conn: HTTPConnection) -> None:
        for i in counter:
            method, path, body, headers = make_request(i)
            t0 = time.perf_counter()
            status, hdrs, data = await conn.request(method, path, body, headers)
            sample.latencies.append(time.perf_counter() - t0)
            if "x-server-ms" in hdrs:
                sample.server.append(float(hdrs["x-server-ms"]) / 1000)
            if check is not None:
                problem = check(status, data)
                if problem:
                    sample.failures.append(problem)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns[:concurrency]))
    sample.wall = time.perf_counter() - t0
    sample.requests = total
    if own:
        for c in conns:
            await c.close()
    return sample


class InProcess:
    """Requests to an ASGI app in this process, without sockets: what a benchmark
    of the app's own CPU (the collector, the event handlers) sends. ``async with``
    runs the app's lifespan."""

    def __init__(self, app, headers: dict[str, str]):
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        self._lifespan: asyncio.Task | None = None

    async def __aenter__(self) -> "InProcess":
        await self._inbox.put({"type": "lifespan.startup"})
        self._lifespan = asyncio.create_task(
            self.app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, self._inbox.get, self._outbox.put)
        )
        started = await self._outbox.get()
        if started["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the app did not start: {started}")
        return self

    async def __aexit__(self, *exc) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        assert self._lifespan is not None
        await self._lifespan

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": self.headers + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
        }
        received = False

        async def receive() -> dict:
            nonlocal received
            if not received:
                received = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError("unreachable")

        status, chunks = 0, []

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)
