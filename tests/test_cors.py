"""CORS: off by default; an allowed origin may call /graphql, others may not."""

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_cors_is_off_by_default(app):
    response = app.client.options("/graphql", headers={"Origin": "https://app.example.com", **PREFLIGHT})
    assert "access-control-allow-origin" not in response.headers


def test_allowed_origin_passes_preflight_and_gets_the_header(make_app):
    app = make_app(config={"cors": {"allow_origins": ["https://app.example.com"], "max_age": 120}})
    response = app.client.options("/graphql", headers={"Origin": "https://app.example.com", **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-max-age"] == "120"
    response = app.client.post(
        "/graphql",
        json={"query": "{ me { email } }"},
        headers={"Origin": "https://app.example.com", "Authorization": f"Bearer {app.tokens['agent']}"},
    )
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.json()["data"]["me"]["email"] == "agent@example.com"


def test_other_origin_is_refused(make_app):
    app = make_app(config={"cors": {"allow_origins": ["https://app.example.com"]}})
    response = app.client.options("/graphql", headers={"Origin": "https://evil.example.net", **PREFLIGHT})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    response = app.client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example.net"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_wildcard_with_credentials_is_a_config_error():
    import pytest

    from kehu.config import parse_config
    from kehu.errors import ConfigError

    with pytest.raises(ConfigError, match="cors.allow_origins"):
        parse_config({"cors": {"allow_origins": ["*"], "allow_credentials": True}})
