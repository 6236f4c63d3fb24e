"""The benchmark's SQL query-count checks, without timings: CI's guard against N+1.

Seeds a small copy of the benchmark data set (same generator, same raw inserts),
then sends the benchmark's own documents through the HTTP stack and counts the
statements kehu sends, against the budgets in benchmarks/workloads.py.
"""

import pytest

from benchmarks import dataset, workloads
from kehu.server.plugin_manager import discover
from kehu.testing import KehuHarness, count_queries

SMALL = dataset.Scale(customers=150, owners=6, interactions=2_000)
PLUGINS = tuple(p for p in workloads.BUILTINS if p in discover())


@pytest.fixture
def bench_app(db_url):
    harness = KehuHarness(db_url, enabled=PLUGINS, seed_accounts=False).__enter__()
    try:
        rows = dataset.generate(SMALL)
        dataset.load(db_url, rows, dataset.tables_of(db_url))
        yield harness
    finally:
        harness.__exit__(None, None, None)


def _count(app, document, variables=None) -> tuple[int, dict]:
    app.data(workloads.ME_DOCUMENT, token=dataset.BENCH_TOKEN)  # the token's last-used time: written once a minute
    with count_queries() as q:
        body = app.gql(document, variables, token=dataset.BENCH_TOKEN)
    assert not body.get("errors"), body["errors"]
    return q.count, body["data"]


def test_customer_page_costs_the_same_queries_for_10_and_100_customers(bench_app):
    document = workloads.page_document(PLUGINS)
    counts = {}
    for n in (10, 100):
        counts[f"W1@{n}"], data = _count(bench_app, document, {"n": n})
        edges = data["customers"]["edges"]
        assert len(edges) == n
        assert all(len(e["node"]["interactions"]["edges"]) <= 5 for e in edges)
        assert any(len(e["node"]["interactions"]["edges"]) == 5 for e in edges)
    assert workloads.query_count_problems(counts) == [], counts


def test_signed_in_trivial_query_is_one_token_lookup(bench_app):
    count, data = _count(bench_app, workloads.ME_DOCUMENT)
    assert data["me"]["name"] == "Owner 001"
    assert workloads.query_count_problems({"W2": count}) == []


def test_log_interaction_with_plugin_hooks_stays_within_its_query_budget(bench_app):
    # The first purchase of a fresh database also makes segmentation's first full run.
    _count(bench_app, workloads.LOG_DOCUMENT, workloads.log_variables(0, SMALL.customers))
    count, data = _count(bench_app, workloads.LOG_DOCUMENT, workloads.log_variables(1, SMALL.customers))
    assert data["logInteraction"]["userErrors"] == []
    assert data["logInteraction"]["interaction"]["kind"] == "PURCHASE"
    assert workloads.query_count_problems({"W3": count}) == [], count
