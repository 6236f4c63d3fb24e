"""The floor: the same JSON answers built with raw SQL and orjson in plain Starlette.

No GraphQL, no ORM: one hand-written query per data need (a token lookup, the page
of customers, their owners, the last five interactions per customer with one
``ROW_NUMBER()`` query, the plugins' summary rows), rows turned into the exact
JSON kehu returns (the benchmark checks that both bodies are equal), encoded with
orjson. Same database, same data, same uvicorn settings as kehu. Its SQLite
connection is configured like Tortoise's (aiosqlite, WAL, foreign keys on,
synchronous FULL, one connection behind a lock); on PostgreSQL an asyncpg pool of
1–10 connections, like kehu's.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import re
import uuid
from decimal import Decimal

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TIER_BASE = "member"


def gid(type_name: str, pk) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def from_gid(value: str) -> int:
    padded = value + "=" * (-len(value) % 4)
    return int(base64.urlsafe_b64decode(padded.encode()).decode().partition(":")[2])


class Database:
    """Raw access to SQLite (aiosqlite) or PostgreSQL (asyncpg) with one SQL dialect
    (``?`` placeholders, rewritten to ``$n`` for PostgreSQL) and a statement counter."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite://")
        self.counting = False
        self.count = 0
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        if self.sqlite:
            import aiosqlite

            self.conn = await aiosqlite.connect(self.url[len("sqlite://") :], isolation_level=None)
            await self.conn.execute("PRAGMA journal_mode = WAL")
            await self.conn.execute("PRAGMA foreign_keys = ON")
        else:
            import asyncpg

            self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=10)

    async def close(self) -> None:
        if self.sqlite:
            await self.conn.close()
        else:
            await self.pool.close()

    def _pg(self, sql: str) -> str:
        n = iter(range(1, 10_000))
        return re.sub(r"\?", lambda _: f"${next(n)}", sql)

    async def fetch(self, sql: str, *args, conn=None) -> list[tuple]:
        if self.counting:
            self.count += 1
        if self.sqlite:
            async with self.conn.execute(sql, args) as cur:
                return await cur.fetchall()
        if conn is not None:
            return await conn.fetch(self._pg(sql), *args)
        return await self.pool.fetch(self._pg(sql), *args)

    def transaction(self):
        return _Transaction(self)


class _Transaction:
    def __init__(self, db: Database):
        self.db = db

    async def __aenter__(self):
        if self.db.sqlite:
            await self.db._lock.acquire()
            await self.db.conn.execute("BEGIN")
            return None
        self.conn = await self.db.pool.acquire()
        self.tx = self.conn.transaction()
        await self.tx.start()
        return self.conn

    async def __aexit__(self, exc_type, *_):
        if self.db.sqlite:
            try:
                await self.db.conn.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.db._lock.release()
            return
        try:
            if exc_type:
                await self.tx.rollback()
            else:
                await self.tx.commit()
        finally:
            await self.db.pool.release(self.conn)


def iso(value) -> str | None:
    """A timestamp as strawberry prints it (``datetime.isoformat()``)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite text: '2025-01-02 03:04:05.123456+00:00'
        return value.replace(" ", "T", 1)
    return value.astimezone(dt.UTC).isoformat()


def money(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def placeholders(n: int) -> str:
    return ", ".join("?" * n)


def build_app(url: str, plugins: tuple[str, ...]) -> tuple[Starlette, Database]:
    db = Database(url)

    async def viewer(request: Request):
        header = request.headers.get("authorization", "")
        token = header.partition(" ")[2].strip()
        rows = await db.fetch(
            "SELECT o.id, o.name, o.active, t.expires_at FROM kehu_access_token t "
            "JOIN kehu_account_owner o ON o.id = t.owner_id WHERE t.token_hash = ? AND t.revoked_at IS NULL",
            hashlib.sha256(token.encode()).hexdigest(),
        )
        if not rows or not rows[0][2]:
            return None
        return rows[0]

    def unauthenticated() -> Response:
        return Response(
            orjson.dumps({"data": None, "errors": [{"message": "sign in first"}]}), media_type="application/json"
        )

    async def page(request: Request) -> Response:
        body = orjson.loads(await request.body())
        n = int(body.get("variables", {}).get("n", 100))
        if await viewer(request) is None:
            return unauthenticated()
        customers = await db.fetch(
            "SELECT id, name, email, phone, region, owner_id FROM kehu_customer WHERE archived_at IS NULL "
            "ORDER BY created_at, id LIMIT ?",
            n + 1,
        )
        has_next = len(customers) > n
        customers = customers[:n]
        ids = [c[0] for c in customers]
        owner_ids = sorted({c[5] for c in customers if c[5] is not None})
        owners = {}
        if owner_ids:
            owners = {
                r[0]: {"id": gid("AccountOwner", r[0]), "name": r[1]}
                for r in await db.fetch(
                    f"SELECT id, name FROM kehu_account_owner WHERE id IN ({placeholders(len(owner_ids))})", *owner_ids
                )
            }
        recent: dict[int, list] = {i: [] for i in ids}
        loyalty: dict[int, tuple] = {}
        segmentation: dict[int, str] = {}
        counts: dict[str, dict[int, int]] = {}
        if ids:
            marks = placeholders(len(ids))
            for r in await db.fetch(
                "SELECT id, customer_id, kind, occurred_at, amount, subject FROM ("
                "SELECT id, customer_id, kind, occurred_at, amount, subject, ROW_NUMBER() OVER ("
                "PARTITION BY customer_id ORDER BY occurred_at DESC, id DESC) AS rn "
                f"FROM kehu_interaction WHERE customer_id IN ({marks})) ranked WHERE rn <= 5 ORDER BY customer_id, rn",
                *ids,
            ):
                recent[r[1]].append(
                    {
                        "node": {
                            "id": gid("Interaction", r[0]),
                            "kind": r[2],
                            "occurredAt": iso(r[3]),
                            "amount": money(r[4]),
                            "subject": r[5],
                        }
                    }
                )
            if "loyalty" in plugins:
                loyalty = {
                    r[0]: (r[1], r[2])
                    for r in await db.fetch(
                        f"SELECT customer_id, balance, tier FROM loyalty_account WHERE customer_id IN ({marks})", *ids
                    )
                }
            if "segmentation" in plugins:
                segmentation = {
                    r[0]: r[1]
                    for r in await db.fetch(
                        f"SELECT customer_id, value_tier FROM segmentation_classification WHERE customer_id IN ({marks})",
                        *ids,
                    )
                }
            for plugin, table in (("complaints", "complaints_complaint"), ("surveys", "surveys_response")):
                if plugin in plugins:
                    counts[plugin] = {
                        r[0]: r[1]
                        for r in await db.fetch(
                            f"SELECT customer_id, COUNT(id) FROM {table} WHERE customer_id IN ({marks}) GROUP BY customer_id",
                            *ids,
                        )
                    }
        edges = []
        for c in customers:
            node = {
                "id": gid("Customer", c[0]),
                "name": c[1],
                "email": c[2],
                "phone": c[3],
                "region": c[4],
                "owner": owners.get(c[5]),
                "interactions": {"edges": recent[c[0]]},
            }
            if "loyalty" in plugins:
                balance, tier = loyalty.get(c[0], (0, TIER_BASE))
                node["loyalty"] = {"balance": balance, "tier": {"name": tier}}
            if "segmentation" in plugins:
                value = segmentation.get(c[0])
                node["segmentation"] = None if value is None else {"valueTier": value}
            if "complaints" in plugins:
                node["complaints"] = {"totalCount": counts["complaints"].get(c[0], 0)}
            if "surveys" in plugins:
                node["surveyResponses"] = {"totalCount": counts["surveys"].get(c[0], 0)}
            edges.append({"node": node})
        data = {
            "customers": {
                "pageInfo": {"hasNextPage": has_next, "endCursor": cursor(len(edges) - 1) if edges else None},
                "edges": edges,
            }
        }
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    async def me(request: Request) -> Response:
        await request.body()
        row = await viewer(request)
        if row is None:
            return unauthenticated()
        return Response(
            orjson.dumps({"data": {"me": {"id": gid("AccountOwner", row[0]), "name": row[1]}}}),
            media_type="application/json",
        )

    async def plain(request: Request) -> Response:
        await request.body()
        return Response(
            orjson.dumps({"data": {"me": {"id": gid("AccountOwner", 1), "name": "Owner 001"}}}),
            media_type="application/json",
        )

    async def log_interaction(request: Request) -> Response:
        """Raw inserts of what kehu's logInteraction commits for the interaction itself:
        the row, the customer's last_interaction_at, the audit entry — one transaction."""
        body = orjson.loads(await request.body())
        row = await viewer(request)
        if row is None:
            return unauthenticated()
        i = body["variables"]["i"]
        customer_id = from_gid(i["customerId"])
        now = dt.datetime.now(dt.UTC)
        amount = Decimal(i["amount"]) if i.get("amount") is not None else None
        stamp = str(now) if db.sqlite else now
        async with db.transaction() as conn:
            found = await db.fetch("SELECT archived_at FROM kehu_customer WHERE id = ?", customer_id, conn=conn)
            if not found or found[0][0] is not None:
                return Response(
                    orjson.dumps(
                        {
                            "data": {
                                "logInteraction": {
                                    "interaction": None,
                                    "userErrors": [
                                        {"field": "customerId", "code": "NOT_FOUND", "message": "no such customer"}
                                    ],
                                }
                            }
                        }
                    ),
                    media_type="application/json",
                )
            inserted = await db.fetch(
                "INSERT INTO kehu_interaction (kind, direction, occurred_at, subject, notes, amount, created_at, "
                "customer_id, owner_id) VALUES (?, 'OUTBOUND', ?, ?, '', ?, ?, ?, ?) RETURNING id",
                i["kind"],
                stamp,
                i.get("subject") or "",
                (f"{amount:.2f}" if db.sqlite else amount) if amount is not None else None,
                stamp,
                customer_id,
                row[0],
                conn=conn,
            )
            interaction_id = inserted[0][0]
            await db.fetch(
                "UPDATE kehu_customer SET last_interaction_at = ? WHERE id = ? "
                "AND (last_interaction_at IS NULL OR last_interaction_at < ?)",
                stamp,
                customer_id,
                stamp,
                conn=conn,
            )
            changes = orjson.dumps(
                {"customer_id": {"before": None, "after": customer_id}, "kind": {"before": None, "after": i["kind"]}}
            ).decode()
            await db.fetch(
                "INSERT INTO kehu_audit_entry (at, actor_id, actor_label, operation, entity_type, entity_id, changes, "
                "request_id) VALUES (?, ?, ?, 'logInteraction', 'Interaction', ?, ?, ?) RETURNING id",
                stamp,
                row[0],
                "benchmark",
                str(interaction_id),
                changes,
                uuid.uuid4().hex[:16],
                conn=conn,
            )
        return Response(
            orjson.dumps(
                {
                    "data": {
                        "logInteraction": {
                            "interaction": {
                                "id": gid("Interaction", interaction_id),
                                "kind": i["kind"],
                                "amount": money(amount),
                            },
                            "userErrors": [],
                        }
                    }
                }
            ),
            media_type="application/json",
        )

    app = Starlette(
        routes=[
            Route("/w1", page, methods=["POST"]),
            Route("/w2", me, methods=["POST"]),
            Route("/plain", plain, methods=["POST"]),
            Route("/w3", log_interaction, methods=["POST"]),
        ],
        lifespan=_lifespan(db),
    )
    return app, db


def _lifespan(db: Database):
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await db.open()
        try:
            yield
        finally:
            await db.close()

    return lifespan
