"""The benchmark data set: deterministic, seeded with raw bulk inserts.

10,000 customers, 100 account owners, 200,000 interactions (about 1 in 4 a
purchase), loyalty accounts for the customers who bought something and an EARN
entry for each purchase (credited, as on a live system: a bulk load's catch-up
finds nothing of the data set's own to replay). Everything is
derived from one ``random.Random(SEED)``, so two runs produce byte-identical data.
The schema itself comes from kehu's own migrations; only the rows are inserted raw
(``executemany`` on SQLite, ``COPY`` on PostgreSQL), which is ~50× faster than
going through the ORM.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import random
import sqlite3
import uuid
from dataclasses import dataclass
from decimal import Decimal

from kehu.plugins.loyalty.service.history import LEDGER_COLUMNS

SEED = 20251125
NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
# Signs in as the admin (owner 1); the database stores only its SHA-256, as kehu does.
BENCH_TOKEN = "kh_benchmark-admin-token-not-a-secret-0000000000"
KINDS = ("CALL", "VISIT", "EMAIL", "MEETING", "MESSAGE", "PURCHASE", "PURCHASE", "NOTE")
REGIONS = ("Shanghai", "Beijing", "Guangdong", "Zhejiang", "Sichuan", "London", "Berlin", "New York")
INDUSTRIES = ("Retail", "Manufacturing", "Software", "Healthcare", "Logistics", "Education")
TEAMS = ("north", "south", "east", "west", "key-accounts")
TIERS = (("member", 0), ("silver", 1000), ("gold", 5000), ("platinum", 20000))  # loyalty's default tiers


# Names for ``Scale.people``: seven in ten Chinese (some 欧阳明轩 and 张伟, which the
# search benchmarks look for), the rest Latin.
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国文斌宇浩凯健俊帆帅旭宁晨晓欣怡佳琪雪梦婷颖"
LATIN_FIRST = ("Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Henry", "Iris", "Jonas", "Klara", "Leo")
LATIN_LAST = ("Schmidt", "Miller", "Rossi", "Dubois", "Novak", "Smith", "Jensen", "Silva", "Kowalski", "Brown")
# The columns ``Scale.people`` adds to a customer: its id in the source system and the
# normalised keys kehu stores (duplicates, search).
PEOPLE_COLUMNS = ("external_id", "email_key", "phone_key", "name_key", "name_pinyin", "name_initials")


@dataclass(frozen=True)
class Scale:
    customers: int = 10_000
    owners: int = 100
    interactions: int = 200_000
    # Customers as a real base has them: personal names (Chinese and Latin), mobile
    # numbers, an external id and the stored keys filled in (``PEOPLE_COLUMNS``) —
    # what search, duplicate checks and imports read, and what ANALYZE should see.
    people: bool = False


def person(rng: random.Random, mobile: str = "3456789") -> tuple[str, str]:
    """A customer's name and mobile number (``1`` and one digit of ``mobile``, nine more)."""
    r = rng.random()
    if r < 0.0005:
        name = "欧阳明轩"
    elif r < 0.002:
        name = "张伟"
    elif r < 0.7:
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
    else:
        name = f"{rng.choice(LATIN_FIRST)} {rng.choice(LATIN_LAST)}"
    return name, f"1{rng.choice(mobile)}{rng.randint(0, 999_999_999):09d}"


def name_keys(name: str, cache: dict[str, object]) -> object:
    """``kehu.matching.customer_keys`` of a name alone (names repeat: cached)."""
    from kehu.matching import customer_keys

    keys = cache.get(name)
    if keys is None:
        keys = cache[name] = customer_keys(name, None, None)
    return keys


def columns_for(scale: Scale) -> dict[str, tuple[str, ...]]:
    """The loader's columns per table for rows generated at ``scale``."""
    if not scale.people:
        return COLUMNS
    return {**COLUMNS, "kehu_customer": COLUMNS["kehu_customer"] + PEOPLE_COLUMNS}


FULL = Scale()


def sqlite_time(value: dt.datetime | None) -> str | None:
    """Tortoise's SQLite text form of an aware datetime (``str(datetime)``)."""
    return None if value is None else str(value)


def generate(scale: Scale) -> dict[str, list[tuple]]:
    """Rows per table as tuples of Python values (aware datetimes, Decimals, lists)."""
    rng = random.Random(SEED)
    rows: dict[str, list[tuple]] = {}
    owners = []
    for i in range(1, scale.owners + 1):
        role = "ADMIN" if i == 1 else ("MANAGER" if i % 10 == 2 else "AGENT")
        team = "" if i == 1 else TEAMS[i % len(TEAMS)]
        created = NOW - dt.timedelta(days=800, seconds=i)
        owners.append(
            (i, f"Owner {i:03d}", f"owner{i:03d}@bench.kehu.invalid", role, team, True, False, None, created, created)
        )
    rows["kehu_account_owner"] = owners

    customers = []
    tags = []
    for i in range(1, scale.customers + 1):
        kind = "ORGANIZATION" if rng.random() < 0.3 else "PERSON"
        ctags = sorted(rng.sample(("vip", "b2b", "newsletter", "wholesale", "churn-risk"), rng.randint(0, 2)))
        created = NOW - dt.timedelta(days=760) + dt.timedelta(seconds=i * 7, microseconds=rng.randint(1, 999_999))
        customers.append(
            [
                i,
                f"Customer {i:05d}",
                kind,
                f"customer{i:05d}@example.com",
                f"+86 21 {rng.randint(1000_0000, 9999_9999)}",
                f"{rng.randint(1, 999)} Nanjing Road",
                rng.choice(REGIONS),
                rng.choice(INDUSTRIES),
                ctags,
                {"source": rng.choice(("web", "fair", "referral"))},
                None,
                None,
                created,
                created,
                2 + (i % (scale.owners - 1)) if scale.owners > 1 else 1,
            ]
        )
        tags += [(i, t) for t in ctags]
    rows["kehu_customer_tag"] = [(n, c, t) for n, (c, t) in enumerate(tags, 1)]

    interactions = []
    entries = []
    last = [None] * (scale.customers + 1)
    spend = [Decimal(0)] * (scale.customers + 1)
    for n in range(1, scale.interactions + 1):
        c = rng.randint(1, scale.customers)
        kind = rng.choice(KINDS)
        occurred = NOW - dt.timedelta(seconds=rng.randint(0, 730 * 86400), microseconds=rng.randint(1, 999_999))
        amount = Decimal(rng.randint(100, 500_000)) / 100 if kind == "PURCHASE" else None
        if amount is not None:
            spend[c] += amount
            entries.append(
                (
                    len(entries) + 1,
                    c,
                    "EARN",
                    int(amount),
                    int(spend[c]),
                    "purchase",
                    f"purchase:{n}",
                    occurred,
                    None,
                    n,
                )
            )
        if last[c] is None or occurred > last[c]:
            last[c] = occurred
        owner = customers[c - 1][14]
        interactions.append(
            (
                n,
                kind,
                "OUTBOUND" if n % 3 else "INBOUND",
                occurred,
                f"Subject {n}",
                "",
                amount,
                None,
                occurred,
                c,
                owner,
                None,
            )
        )
    rows["kehu_interaction"] = interactions
    for c in customers:
        c[10] = last[c[0]]
    if scale.people:
        _as_people(customers)
    rows["kehu_customer"] = [tuple(c) for c in customers]

    accounts = []
    for c in range(1, scale.customers + 1):
        if spend[c] > 0:
            lifetime = int(spend[c])
            tier = [name for name, threshold in TIERS if lifetime >= threshold][-1]
            accounts.append(
                (
                    len(accounts) + 1,
                    lifetime // 2,
                    lifetime,
                    tier,
                    NOW - dt.timedelta(days=30),
                    None,
                    NOW - dt.timedelta(days=400),
                    c,
                )
            )
    rows["loyalty_account"] = accounts
    rows["loyalty_ledger_entry"] = entries

    digest = hashlib.sha256(BENCH_TOKEN.encode()).hexdigest()
    rows["kehu_access_token"] = [(1, digest, 1, "API", "benchmark", NOW, None, None, None)]
    return rows


def _as_people(customers: list[list]) -> None:
    """Give the generated customers names, mobile numbers, e-mail addresses, external
    ids and their stored keys (``Scale.people``), from a random stream of their own:
    every other column stays as without ``people``. No mobile number starts 18 (the
    numbers of benchmarks/import_workload.py's files start 138, so an import into a
    large base finds a few of its numbers there: 3 of 10,000 at a million customers)."""
    rng = random.Random(SEED + 1)
    cache: dict[str, object] = {}
    for c in customers:
        name, phone = person(rng, mobile="345679")
        email = f"c{c[0]:07d}@example.com"
        keys = name_keys(name, cache)
        c[1], c[3], c[4] = name, email, phone
        c += [
            f"CRM{c[0]:07d}",
            email,
            f"+86{phone}",
            keys.name_key,  # type: ignore[attr-defined]
            keys.name_pinyin,  # type: ignore[attr-defined]
            keys.name_initials,  # type: ignore[attr-defined]
        ]


COLUMNS = {
    "kehu_account_owner": (
        "id",
        "name",
        "email",
        "role",
        "team",
        "active",
        "is_service",
        "password_hash",
        "created_at",
        "updated_at",
    ),
    "kehu_customer": (
        "id",
        "name",
        "kind",
        "email",
        "phone",
        "address",
        "region",
        "industry",
        "tags",
        "attributes",
        "last_interaction_at",
        "archived_at",
        "created_at",
        "updated_at",
        "owner_id",
    ),
    "kehu_customer_tag": ("id", "customer_id", "tag"),
    "kehu_interaction": (
        "id",
        "kind",
        "direction",
        "occurred_at",
        "subject",
        "notes",
        "amount",
        "next_follow_up_at",
        "created_at",
        "customer_id",
        "owner_id",
        "idempotency_key",
    ),
    "loyalty_account": (
        "id",
        "balance",
        "lifetime_points",
        "tier",
        "tier_since",
        "tier_protected_until",
        "created_at",
        "customer_id",
    ),
    "loyalty_ledger_entry": ("id", *LEDGER_COLUMNS),
    "kehu_access_token": (
        "id",
        "token_hash",
        "owner_id",
        "kind",
        "name",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ),
}
JSON_COLUMNS = {"tags", "attributes"}


def _sqlite_value(column: str, value):
    if isinstance(value, dt.datetime):
        return sqlite_time(value)
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if column in JSON_COLUMNS:
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return int(value)
    return value


def _pg_value(column: str, value):
    if column in JSON_COLUMNS:
        return json.dumps(value, separators=(",", ":"))
    return value


async def migrate(url: str, plugins: tuple[str, ...]) -> None:
    """Create the schema with kehu's own migrations."""
    from kehu.config import parse_config
    from kehu.server.runtime import Kehu

    kehu = Kehu(parse_config({"kehu": {"database_url": url}, "plugins": {"enabled": list(plugins)}}))
    await kehu.connect(migrate=True)
    await kehu.disconnect()


def load(
    url: str, rows: dict[str, list[tuple]], tables: set[str], columns: dict[str, tuple[str, ...]] = COLUMNS
) -> None:
    """Insert the generated rows (tables missing from ``tables`` are skipped), ``rows``
    holding each table's ``columns`` (``columns_for(scale)``)."""
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://") :])
        # Seeding only: kehu's own connections keep Tortoise's settings (WAL, synchronous FULL).
        con.execute("PRAGMA synchronous = OFF")
        con.execute("PRAGMA cache_size = -262144")
        try:
            with con:
                for table in columns:  # parents before children
                    if table not in tables or table not in rows:
                        continue
                    data = rows[table]
                    cols = columns[table]
                    con.executemany(
                        f'INSERT INTO "{table}" ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',
                        ([_sqlite_value(c, v) for c, v in zip(cols, row)] for row in data),
                    )
            con.execute("ANALYZE")
        finally:
            con.close()
    else:
        asyncio.run(_load_pg(url, rows, tables, columns))


async def _load_pg(url: str, rows, tables, columns) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for table in columns:  # parents before children: PostgreSQL checks foreign keys
            if table not in tables or table not in rows:
                continue
            data = rows[table]
            cols = columns[table]
            await conn.copy_records_to_table(
                table, records=(tuple(_pg_value(c, v) for c, v in zip(cols, row)) for row in data), columns=list(cols)
            )
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def tables_of(url: str) -> set[str]:
    if url.startswith("sqlite://"):
        con = sqlite3.connect(url[len("sqlite://") :])
        try:
            return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()

    async def names():
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            return {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        finally:
            await conn.close()

    return asyncio.run(names())


def seed(url: str, plugins: tuple[str, ...], scale: Scale = FULL) -> dict[str, int]:
    """Migrate an empty database and fill it; returns rows per table."""
    asyncio.run(migrate(url, plugins))
    rows = generate(scale)
    load(url, rows, tables_of(url), columns_for(scale))
    return {t: len(r) for t, r in rows.items()}


# --------------------------------------------------------------------------- PostgreSQL databases


def create_pg_database(server: str, prefix: str = "kehu_bench", template: str | None = None) -> str:
    """A fresh database on ``server`` (``postgres://user@host:port``), its name
    ``prefix`` and a random suffix; returns its URL. With ``template`` (a
    database's name), a copy of that database."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    copy = f' TEMPLATE "{template}"' if template else ""

    async def run():
        conn = await asyncpg.connect(server.rstrip("/") + "/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        finally:
            await conn.close()

    asyncio.run(run())
    return server.rstrip("/") + "/" + name


def drop_pg_database(url: str) -> None:
    import asyncpg

    server, _, name = url.rpartition("/")

    async def run():
        conn = await asyncpg.connect(server + "/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())
