"""The token check's read on the event loop's own thread (``kehu.server.db.LoopReads``):
the same rows as through the pool, every commit made before it seen (on any
connection), nothing uncommitted, and the pool asked instead whenever it cannot
answer at once."""

import sqlite3

import pytest

from kehu import credentials
from kehu.ids import digest
from kehu.models import AccessToken
from kehu.server.db import LoopReads


@pytest.fixture
def sqlite_only(db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("a SQLite file's reads")


def test_a_reader_exists_only_for_a_sqlite_file(tmp_path):
    assert LoopReads.for_url(f"sqlite://{tmp_path}/kehu.db").path == f"{tmp_path}/kehu.db"
    assert LoopReads.for_url("sqlite://:memory:") is None
    assert LoopReads.for_url("postgres://u@localhost:5432/kehu") is None


def test_the_token_check_reads_what_the_pool_reads(app, sqlite_only):
    reads = app.kehu.loop_reads
    assert reads is not None
    sql, _, _ = credentials._token_query()
    token_hash = digest(app.tokens["admin"])

    async def through_the_pool():
        return await AccessToken._meta.db.execute_query_dict(sql, [token_hash])

    on_the_loop = app.run(lambda: _now(reads.rows, sql, [token_hash]))
    assert on_the_loop == app.run(through_the_pool) and len(on_the_loop) == 1
    assert app.run(lambda: _now(reads.rows, sql, ["no such digest"])) == []


async def _now(fn, *args):
    return fn(*args)


def test_a_commit_on_another_connection_is_seen_at_the_next_read_and_uncommitted_rows_never(
    app, sqlite_only, monkeypatch
):
    reads = app.kehu.loop_reads
    answered = []
    rows = reads.rows
    monkeypatch.setattr(reads, "rows", lambda *args: answered.append(rows(*args)) or answered[-1])
    assert app.data("{ me { id } }", as_="admin")  # the token's last use noted: no write while the lock is held
    writer = sqlite3.connect(reads.path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a write in progress does not hold the reader up
        writer.execute("UPDATE kehu_access_token SET revoked_at = '2020-01-01 00:00:00+00:00'")
        assert app.data("{ me { id } }", as_="admin")["me"]["id"]
        writer.execute("COMMIT")
    finally:
        writer.close()
    response = app.post("{ me { id } }", as_="admin")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert len(answered) == 3 and None not in answered  # all three read on the loop


def test_the_pool_answers_when_the_reader_cannot(app, sqlite_only):
    reads = app.kehu.loop_reads
    reads.close()
    assert reads.rows("SELECT 1 AS one", []) is None
    assert app.data("{ me { email } }", as_="admin")["me"]["email"] == app.accounts["admin"].email


def test_a_database_not_in_wal_mode_is_never_read_on_the_loop(tmp_path):
    path = tmp_path / "rollback.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    assert LoopReads(str(path)).rows("SELECT x FROM t", []) is None
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.close()
    assert LoopReads(str(path)).rows("SELECT x FROM t", []) == []
    odd = tmp_path / "a dir #1?" / "kehu.db"
    odd.parent.mkdir()
    with sqlite3.connect(odd) as connection:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("CREATE TABLE t (x)")
        connection.execute("INSERT INTO t VALUES (1)")
    assert LoopReads(str(odd)).rows("SELECT x FROM t", []) == [{"x": 1}]


def test_its_statements_are_counted_like_the_pools(app, sqlite_only):
    from kehu.testing import count_queries

    app.data("{ me { id } }", as_="admin")  # the token's first use is noted (a write)
    with count_queries() as counted:
        app.data("{ me { id } }", as_="admin")
    assert counted.count == 1
