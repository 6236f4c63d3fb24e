"""Backup and restore: a round trip gives back every table exactly."""

import os
import shutil
import sqlite3
import subprocess

import pytest

from kehu.cli.backup import backup, restore
from kehu.errors import ConfigError

CREATE = 'mutation($n: String!) { createCustomer(input: {name: $n, tags: ["a"]}) { customer { id } } }'


def dump_sqlite(path):
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


@pytest.fixture
def sqlite_only(db_url):
    if not db_url.startswith("sqlite://"):
        pytest.skip("SQLite backup API")
    return db_url


def test_online_backup_then_restore_round_trip(sqlite_only, make_app, tmp_path):
    app = make_app()
    for i in range(20):
        app.data(CREATE, {"n": f"Customer {i}"}, as_="admin")
    target = tmp_path / "snapshot.db"
    backup(sqlite_only, target)  # while the app is running and connected
    database = sqlite_only[len("sqlite://") :]
    expected = dump_sqlite(target)
    assert len(expected["kehu_customer"]) == 20
    app.data(CREATE, {"n": "After the backup"}, as_="admin")
    restore(sqlite_only, target)
    assert dump_sqlite(database) == expected


def test_backup_refuses_to_overwrite_and_restore_refuses_garbage(sqlite_only, make_app, tmp_path):
    make_app()
    existing = tmp_path / "exists.db"
    existing.write_text("x")
    with pytest.raises(ConfigError, match="exists"):
        backup(sqlite_only, existing)
    with pytest.raises(ConfigError, match="not a usable SQLite database|not a kehu database"):
        restore(sqlite_only, existing)
    with pytest.raises(ConfigError, match="not found"):
        restore(sqlite_only, tmp_path / "missing.db")


def test_backup_of_postgres_points_to_pg_dump():
    with pytest.raises(ConfigError, match="pg_dump"):
        backup("postgres://u@h/db", __import__("pathlib").Path("/tmp/x.db"))


@pytest.mark.skipif(
    not os.environ.get("KEHU_TEST_POSTGRES") or not shutil.which("pg_dump"), reason="needs PostgreSQL and pg_dump"
)
def test_postgres_pg_dump_and_pg_restore_round_trip(db_url, make_app, tmp_path):
    import asyncio

    import asyncpg

    app = make_app()
    for i in range(10):
        app.data(CREATE, {"n": f"Customer {i}"}, as_="admin")

    async def dump_tables(url):
        conn = await asyncpg.connect(url)
        try:
            tables = [
                r["tablename"]
                for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1")
            ]
            return {t: sorted(map(lambda r: repr(tuple(r)), await conn.fetch(f'SELECT * FROM "{t}"'))) for t in tables}
        finally:
            await conn.close()

    expected = asyncio.run(dump_tables(db_url))
    dump = tmp_path / "kehu.dump"
    subprocess.run(["pg_dump", "--format=custom", "--file", str(dump), db_url], check=True)
    restored = db_url.rsplit("/", 1)[0] + "/" + db_url.rsplit("/", 1)[1] + "_restored"
    server = db_url.rsplit("/", 1)[0] + "/postgres"

    async def admin(sql):
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    name = restored.rsplit("/", 1)[1]
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        subprocess.run(["pg_restore", "--no-owner", "--dbname", restored, str(dump)], check=True)
        assert asyncio.run(dump_tables(restored)) == expected
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
