"""Helpers for tests that run the real ``kehu`` command: a configuration file, a
server subprocess on a free local port, HTTP calls to it, and the database read
back afterwards through kehu's own models."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

KEHU = [sys.executable, "-m", "kehu.cli"]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct-horse-battery"


def write_config(directory: Path, database_url: str, *, enabled=(), extra: str = "") -> Path:
    path = directory / "plugins.toml"
    path.write_text(
        f'[kehu]\ndatabase_url = "{database_url}"\n\n[plugins]\nenabled = {json.dumps(list(enabled))}\n\n{extra}',
        encoding="utf-8",
    )
    return path


def kehu(config: Path, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*KEHU, "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "KEHU_DATABASE_URL": ""},
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kehu {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def init(config: Path) -> None:
    """Migrate and create the first admin."""
    kehu(config, "init", "--admin-email", ADMIN_EMAIL, "--admin-password", ADMIN_PASSWORD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(Exception):
    pass


class Server:
    """``kehu serve`` in its own process group, its output in ``log``."""

    def __init__(self, config: Path, *args: str, startup_timeout: float = 60):
        # A free port can be taken by another process (a parallel test worker)
        # between our probe and the server's bind: then try another one.
        for attempt in range(3):
            try:
                return self._start(config, args, startup_timeout)
            except PortTaken:
                if attempt == 2:
                    raise

    def _start(self, config: Path, args: tuple[str, ...], startup_timeout: float) -> None:
        self.port = free_port()
        self.log = config.parent / f"serve-{self.port}.log"
        self.url = f"http://127.0.0.1:{self.port}"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*KEHU, "--config", str(config), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "KEHU_DATABASE_URL": ""},
            )
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                if "address already in use" in self.output():
                    raise PortTaken(self.port)
                raise AssertionError(f"kehu serve exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        self.kill()
        raise AssertionError(f"kehu serve did not start in {startup_timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, no flushing."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """POST a GraphQL document on a new connection; ``(status, body, headers)``."""
        request = urllib.request.Request(
            self.url + "/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={
                "Content-Type": "application/json",
                "Connection": "close",
                **(headers or {}),
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read()), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}"), dict(error.headers)

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        status, body, _ = self.gql(
            "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) { token userErrors { message } } }",
            {"e": email, "p": password},
        )
        token = body["data"]["login"]["token"]
        assert token, body
        return token

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process.poll() is None:
            self.stop()


@contextlib.asynccontextmanager
async def connected(config: Path):
    """kehu's models, connected to the configured database (migrations not run)."""
    from kehu.config import load_config
    from kehu.server.runtime import Kehu

    app = Kehu(load_config(config))
    await app.connect(check=False)
    try:
        yield app
    finally:
        await app.disconnect()


class Worker:
    """A Kehu app with a Tortoise context of its own, served by a task of its own:
    what a worker process is, for tests that need two at once in one process."""

    def __init__(self, database_url: str, clock, settings: dict | None = None):
        from kehu.config import parse_config
        from kehu.server.runtime import Kehu

        self.kehu = Kehu(parse_config({"kehu": {"database_url": database_url}, **(settings or {})}), clock=clock)
        self.queue: asyncio.Queue = asyncio.Queue()

    async def start(self, *, migrate: bool = False) -> Worker:
        ready = asyncio.get_running_loop().create_future()
        self.task = asyncio.create_task(self._serve(migrate, ready))
        await ready
        return self

    async def _serve(self, migrate: bool, ready) -> None:
        from kehu.server import db

        self.kehu.ctx = await db.open_context(self.kehu.tortoise_config, global_fallback=False)
        if migrate:
            await db.migrate(self.kehu.ctx, self.kehu.apps)
        ready.set_result(None)
        while True:
            fn, done = await self.queue.get()
            try:
                done.set_result(await fn(self.kehu))
            except Exception as exc:
                done.set_exception(exc)

    async def call(self, fn):
        done = asyncio.get_running_loop().create_future()
        await self.queue.put((fn, done))
        return await done

    async def close(self) -> None:
        from kehu import jobs
        from kehu.server import db

        await self.call(jobs.stop)
        await db.close_context(self.kehu.ctx)
        self.task.cancel()


def counting_job(name: str, seconds: float, runs: list, label: object):
    """For ``Worker.call``: start job ``name`` in that worker, appending ``label`` to
    ``runs`` at each run."""

    async def job():
        runs.append(label)

    async def start(kehu):
        from kehu import jobs

        jobs.every(kehu, name, seconds, job)

    return start
