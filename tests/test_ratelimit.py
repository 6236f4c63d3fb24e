"""Rate limits: cost points per minute per caller, 429 with Retry-After."""

from kehu.server.ratelimit import RateLimiter


def limited(make_app, per_minute=10, cost=5):
    return make_app(config={"limits": {"rate_per_minute": per_minute, "mutation_cost": cost}})


def test_queries_over_budget_are_refused_with_retry_after(make_app):
    app = limited(make_app)
    for _ in range(10):
        assert app.post("{ me { id } }", as_="agent").status_code == 200
    response = app.post("{ me { id } }", as_="agent")
    assert response.status_code == 429
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert error["extensions"]["retryAfter"] == int(response.headers["Retry-After"])


def test_budget_is_per_caller_and_renews_each_minute(make_app):
    app = limited(make_app)
    for _ in range(11):
        app.post("{ me { id } }", as_="agent")
    assert app.post("{ me { id } }", as_="agent").status_code == 429
    assert app.post("{ me { id } }", as_="manager").status_code == 200, "another caller has its own budget"
    app.clock.advance(seconds=61)
    assert app.post("{ me { id } }", as_="agent").status_code == 200


def test_mutations_cost_more(make_app):
    app = limited(make_app, per_minute=10, cost=5)
    create = 'mutation { createCustomer(input: {name: "x"}) { userErrors { code } } }'
    assert app.post(create, as_="agent").status_code == 200
    assert app.post(create, as_="agent").status_code == 200
    assert app.post("{ me { id } }", as_="agent").status_code == 429


def test_anonymous_callers_are_limited_per_address(make_app):
    app = limited(make_app, per_minute=10, cost=5)
    login = (
        'mutation { login(input: {email: "nobody@example.com", password: "wrong-password"}) { userErrors { code } } }'
    )
    assert [app.post(login).status_code for _ in range(3)] == [200, 200, 429]
    assert app.post("{ me { id } }", as_="agent").status_code == 200


def test_rate_limits_can_be_turned_off(make_app):
    app = limited(make_app, per_minute=0)
    assert all(app.post("{ me { id } }", as_="agent").status_code == 200 for _ in range(30))


def test_workers_share_one_budget_on_postgres(make_app, db_url):
    """Two limiters stand for two worker processes: on PostgreSQL both charge the
    same database rows, so the budget is shared; on SQLite (one process) each
    limiter counts in memory."""
    app = limited(make_app, per_minute=10)
    first, second = RateLimiter(app.kehu), RateLimiter(app.kehu)

    async def spend_alternately():
        results = []
        for i in range(12):
            limiter = first if i % 2 else second
            results.append(await limiter.spend("token:42", 1))
        return results

    results = app.run(spend_alternately)
    if db_url.startswith("postgres"):
        assert results[:10] == [None] * 10 and all(r is not None for r in results[10:])
    else:
        assert all(r is None for r in results)
