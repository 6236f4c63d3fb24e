"""One server under test, run by the benchmark as a subprocess:

    python -m benchmarks.server --impl kehu|floor|naive --database URL --port N --plugins a,b

Every implementation runs the same way (one uvicorn worker, the same event loop and
HTTP implementation, access log off) behind the same thin wrapper, which

* adds ``x-server-ms`` to each response: time from the request's arrival in the
  app to the start of its response (what W7's "rejected in under 5 ms" means);
* answers ``/_bench/...``: resident memory and its peak (``VmRSS``/``VmHWM``,
  the peak reset through ``/proc/self/clear_refs``), SQL statement counting on/off,
  and a pyinstrument profile of the process between two calls.
"""

from __future__ import annotations

import argparse
import logging
import time

import orjson


def memory() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return {"rss_mb": out.get("VmRSS", 0.0), "peak_mb": out.get("VmHWM", 0.0)}


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__(level=0)
        self.count = 0

    def emit(self, record) -> None:
        if not record.getMessage().startswith(("Created connection pool", "Closed connection pool")):
            self.count += 1


class BenchWrapper:
    def __init__(self, app, floor_db=None):
        self.app = app
        self.floor_db = floor_db
        self.counter = _Counter()
        self.profiler = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"].startswith("/_bench/"):
            return await self._bench(scope, receive, send)
        t0 = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - t0) * 1000
                message = {**message, "headers": [*message.get("headers", []), (b"x-server-ms", f"{ms:.4f}".encode())]}
            await send(message)

        await self.app(scope, receive, timed_send)

    def _count_on(self) -> None:
        if self.floor_db is not None:
            self.floor_db.count, self.floor_db.counting = 0, True
            return
        self.counter.count = 0
        logger = logging.getLogger("tortoise.db_client")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self.counter)

    def _count_off(self) -> int:
        if self.floor_db is not None:
            self.floor_db.counting = False
            return self.floor_db.count
        logger = logging.getLogger("tortoise.db_client")
        logger.removeHandler(self.counter)
        logger.setLevel(logging.WARNING)
        return self.counter.count

    async def _bench(self, scope, receive, send):
        while (await receive()).get("more_body"):
            pass
        action = scope["path"][len("/_bench/") :]
        result: dict = {}
        if action == "stats":
            # CPU seconds of this process, every thread (SQLite works in aiosqlite's):
            # on a shared machine, a cost that other work on it does not inflate.
            result = {**memory(), "cpu_s": time.process_time()}
        elif action == "reset-peak":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            result = memory()
        elif action == "count-on":
            self._count_on()
        elif action == "count-off":
            result = {"queries": self._count_off()}
        elif action == "profile-on":
            from pyinstrument import Profiler

            self.profiler = Profiler(interval=0.0005, async_mode="disabled")
            self.profiler.start()
        elif action == "profile-off":
            self.profiler.stop()
            result = {"text": self.profiler.output_text(unicode=False, color=False, show_all=False)}
            self.profiler = None
        body = orjson.dumps(result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def build(impl: str, url: str, plugins: tuple[str, ...], settings: dict | None = None, sections: dict | None = None):
    """``settings``: kehu's plugin settings by plugin name; ``sections``: more
    sections of kehu's configuration, e.g. ``{"events": {...}}`` (kehu only)."""
    if impl == "kehu":
        from kehu.config import parse_config
        from kehu.server.app import create_app
        from kehu.server.runtime import Kehu

        # Rate limiting off: the benchmark is one client sending thousands of requests a minute.
        config = parse_config(
            {
                "kehu": {"database_url": url, "graphiql": False},
                "limits": {"rate_per_minute": 0},
                "plugins": {"enabled": list(plugins), **(settings or {})},
                **(sections or {}),
            }
        )
        return BenchWrapper(create_app(Kehu(config)))
    if impl == "floor":
        from .floor import build_app

        app, db = build_app(url, plugins)
        return BenchWrapper(app, floor_db=db)
    if impl == "naive":
        from .naive import build_app

        app, _ = build_app(url, plugins)
        return BenchWrapper(app)
    raise SystemExit(f"unknown implementation {impl!r}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", required=True, choices=("kehu", "floor", "naive"))
    parser.add_argument("--database", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plugins", default="")
    parser.add_argument("--settings", default="{}", help="kehu's plugin settings as JSON, by plugin name")
    args = parser.parse_args()
    import uvicorn

    plugins = tuple(p for p in args.plugins.split(",") if p)
    uvicorn.run(
        build(args.impl, args.database, plugins, orjson.loads(args.settings)),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=120,
    )


if __name__ == "__main__":
    main()
