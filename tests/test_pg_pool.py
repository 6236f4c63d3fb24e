"""PostgreSQL connections go back to the pool without asyncpg's reset round trip
(``kehu.server.db.pg_connection_class``): what kehu relies on instead holds."""

import pytest

from kehu.server.db import pg_connection_class


@pytest.fixture
def postgres_only(db_url):
    if not db_url.startswith("postgres"):
        pytest.skip("PostgreSQL's pool")


def test_the_pool_makes_kehus_connections_which_have_no_reset_statement(app, postgres_only):
    async def check():
        from tortoise import connections

        pool = connections.get("default")._pool
        async with pool.acquire() as connection:
            assert isinstance(connection, pg_connection_class())
            assert connection.get_reset_query() == ""

    app.run(check)


def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(app, postgres_only):
    async def check():
        from tortoise import connections

        pool = connections.get("default")._pool
        async with pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute("CREATE TABLE left_open (x int)")
        for _ in range(pool.get_size() + 1):  # whichever connection comes next
            async with pool.acquire() as connection:
                assert not connection.is_in_transaction()
                assert await connection.fetchval("SELECT to_regclass('left_open')") is None

    app.run(check)
