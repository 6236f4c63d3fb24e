"""What `kehu serve` writes to its access log: which route was asked, never a
secret in the path (a survey link's token) nor a query string (GraphQL
variables in a GET may hold personal data)."""

import os
import urllib.request

import pytest
from serving import Server, init, write_config

SECRET = "kh-survey-token-4f9a2c7e1b"


@pytest.mark.parametrize("workers", [1, 2])
def test_the_access_log_shows_route_templates_not_tokens_or_query_strings(db_url, tmp_path, workers):
    if workers > 1 and not os.environ.get("KEHU_TEST_POSTGRES"):
        pytest.skip("several workers need PostgreSQL")
    config = write_config(tmp_path, db_url, enabled=["surveys"])
    init(config)
    with Server(config, "--workers", str(workers)) as server:
        variables = "%7B%22e%22%3A%22wang%40example.com%22%7D"
        for path in (
            f"/s/{SECRET}",
            f"/s/{SECRET}?lang=en",
            f"/graphql?query=%7Bme%7Bemail%7D%7D&variables={variables}",
        ):
            try:
                urllib.request.urlopen(server.url + path, timeout=10).read()
            except urllib.error.HTTPError:
                pass  # 404 for an unknown token, 200/400 for GraphQL: the log is what matters
        server.stop()
        log = server.output()
    assert SECRET not in log
    assert "wang" not in log and "example.com" not in log
    assert '"GET /s/{token} HTTP/1.1" 404' in log
    assert '"GET /s/{token}?… HTTP/1.1" 404' in log
    assert '"GET /graphql?… HTTP/1.1"' in log
