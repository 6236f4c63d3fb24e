"""W9 (benchmarks/deep_pages.py) end to end on a small list, on SQLite and (with
KEHU_TEST_POSTGRES) PostgreSQL: the seeding, the walk to the middle row's cursor
and the check that the deep page starts there keep working; the timings are for
the full benchmark."""

from benchmarks import dataset, deep_pages


def test_the_deep_page_benchmark_walks_to_the_middle_and_finds_it(tmp_path, capsys):
    import os

    server = os.environ.get("KEHU_TEST_POSTGRES")
    if server:
        url = dataset.create_pg_database(server)
        try:
            results = deep_pages.run_database("postgres", url, 1_000, 3, print)
        finally:
            dataset.drop_pg_database(url)
    else:
        results = deep_pages.run_database("sqlite", f"sqlite://{tmp_path / 'deep.db'}", 1_000, 3, print)
    assert set(results) == set(deep_pages.ORDERS)
    for result in results.values():
        assert result["first_ms"] > 0 and result["deep_ms"] > 0
    assert "page after row 500" in capsys.readouterr().out
