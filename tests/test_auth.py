"""Sign-in, sessions, the login throttle and API tokens, over HTTP.

Time is the app's FrozenClock: sessions, locks and token expiry move only when a
test advances it.
"""

import datetime as dt
import hashlib

import pytest
from seed import error_code, gid, owner_gid

from kehu.models import AccessToken, AccountOwner, TokenKind
from kehu.testing import TEST_PASSWORD

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token expiresAt viewer { email role } userErrors { field code message }
  }
}"""
ME = "{ me { email role isService } }"
CHANGE_PASSWORD = """mutation($current: String!, $new: String!) {
  changePassword(input: {currentPassword: $current, newPassword: $new}) { ok userErrors { field code } }
}"""
CREATE_TOKEN = """mutation($name: String!, $role: Role!, $days: Int) {
  createApiToken(input: {name: $name, role: $role, expiresInDays: $days}) {
    token apiToken { id name role expiresAt revokedAt } userErrors { field code message }
  }
}"""
REVOKE_TOKEN = """mutation($id: ID!) {
  revokeApiToken(input: {id: $id}) { apiToken { id name revokedAt } userErrors { field code } }
}"""
DEACTIVATE = """mutation($id: ID!, $active: Boolean) {
  updateAccountOwner(input: {id: $id, active: $active}) { accountOwner { active } userErrors { code } }
}"""
WRONG = "not-the-password"


def login(app, email, password=TEST_PASSWORD):
    return app.data(LOGIN, {"email": email, "password": password})["login"]


def codes(payload):
    return [(e["field"], e["code"]) for e in payload["userErrors"]]


def signed_in_as(app, token):
    """The e-mail a token signs in as, or None when it is refused."""
    body = app.gql(ME, token=token)
    if body.get("errors"):
        assert error_code(body) == "UNAUTHENTICATED"
        return None
    return body["data"]["me"]["email"]


# --------------------------------------------------------------------------- login / logout


def test_login_returns_a_bearer_token_for_the_account(app):
    result = login(app, "agent@example.com")
    assert result["userErrors"] == []
    assert result["viewer"] == {"email": "agent@example.com", "role": "AGENT"}
    assert result["token"].startswith("kh_") and len(result["token"]) > 40
    assert signed_in_as(app, result["token"]) == "agent@example.com"


def test_login_ignores_email_case_and_surrounding_space(app):
    assert login(app, "  Agent@EXAMPLE.com ")["viewer"] == {"email": "agent@example.com", "role": "AGENT"}


def test_session_token_is_stored_only_as_its_hash(app):
    token = login(app, "agent@example.com")["token"]
    rows = app.run(lambda: AccessToken.filter(kind=TokenKind.SESSION).values_list("token_hash", flat=True))
    assert hashlib.sha256(token.encode()).hexdigest() in rows
    assert token not in rows


def test_wrong_password_and_unknown_email_get_the_same_answer(app):
    wrong = login(app, "agent@example.com", WRONG)
    unknown = login(app, "nobody@example.com", WRONG)
    assert wrong == unknown
    assert wrong["token"] is None
    assert codes(wrong) == [("password", "INVALID_CREDENTIALS")]


def test_session_expires_after_the_configured_hours(app):
    result = login(app, "agent@example.com")
    expected = app.clock.now() + dt.timedelta(hours=12)
    assert dt.datetime.fromisoformat(result["expiresAt"]) == expected
    app.clock.advance(hours=11, minutes=59)
    assert signed_in_as(app, result["token"]) == "agent@example.com"
    app.clock.advance(minutes=1)
    assert signed_in_as(app, result["token"]) is None


def test_logout_revokes_only_the_token_it_was_sent_with(app):
    first = login(app, "agent@example.com")["token"]
    second = login(app, "agent@example.com")["token"]
    data = app.data("mutation { logout { ok userErrors { code } } }", token=first)
    assert data["logout"] == {"ok": True, "userErrors": []}
    assert signed_in_as(app, first) is None
    assert signed_in_as(app, second) == "agent@example.com"


def test_logout_needs_a_signed_in_caller(app):
    assert error_code(app.gql("mutation { logout { ok } }")) == "UNAUTHENTICATED"


# --------------------------------------------------------------------------- changePassword


def test_change_password_replaces_the_password(app):
    new = "another-long-passphrase"
    data = app.data(CHANGE_PASSWORD, {"current": TEST_PASSWORD, "new": new}, as_="agent")
    assert data["changePassword"] == {"ok": True, "userErrors": []}
    assert codes(login(app, "agent@example.com", TEST_PASSWORD)) == [("password", "INVALID_CREDENTIALS")]
    assert login(app, "agent@example.com", new)["viewer"]["email"] == "agent@example.com"


def test_change_password_ends_other_sessions_but_keeps_the_current_one(app):
    other = login(app, "agent@example.com")["token"]
    current = login(app, "agent@example.com")["token"]
    app.data(CHANGE_PASSWORD, {"current": TEST_PASSWORD, "new": "another-long-passphrase"}, token=current)
    assert signed_in_as(app, current) == "agent@example.com"
    assert signed_in_as(app, other) is None


@pytest.mark.parametrize(
    "current, new, error",
    [
        (WRONG, "another-long-passphrase", ("currentPassword", "INVALID_CREDENTIALS")),
        (TEST_PASSWORD, "short", ("newPassword", "WEAK_PASSWORD")),
        (TEST_PASSWORD, TEST_PASSWORD, ("newPassword", "INVALID")),
    ],
    ids=["wrong_current", "too_short", "unchanged"],
)
def test_change_password_refuses_bad_input_and_keeps_the_old_password(app, current, new, error):
    data = app.data(CHANGE_PASSWORD, {"current": current, "new": new}, as_="agent")
    assert data["changePassword"]["ok"] is False
    assert [(e["field"], e["code"]) for e in data["changePassword"]["userErrors"]] == [error]
    assert login(app, "agent@example.com")["userErrors"] == []


# --------------------------------------------------------------------------- lockout


CREATE_OWNER = """mutation($e: String!, $p: String!) { createAccountOwner(input: {name: "Wang Fang", email: $e,
  role: AGENT, password: $p}) { accountOwner { id } userErrors { field code message } } }"""


@pytest.mark.parametrize(
    "password, code",
    [
        ("qwertyuiop", "COMMON_PASSWORD"),
        ("1234567890", "COMMON_PASSWORD"),
        ("PassWord123", "COMMON_PASSWORD"),  # the list is compared without case
        ("wang.fang@example.com", "PASSWORD_IS_EMAIL"),
        ("Wang.Fang@Example.COM", "PASSWORD_IS_EMAIL"),
        ("wangfang2024", "WEAK_PASSWORD"),  # the name and a year: guessed at once
        ("aaaaaaaaaaaa", "WEAK_PASSWORD"),
        ("short", "WEAK_PASSWORD"),
    ],
)
def test_common_guessable_or_own_email_passwords_are_refused(app, password, code):
    payload = app.data(CREATE_OWNER, {"e": "wang.fang@example.com", "p": password}, as_="admin")["createAccountOwner"]
    assert payload["accountOwner"] is None
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == ("password", code)
    assert password.lower() not in error["message"].lower()


def test_a_strong_password_is_accepted(app):
    payload = app.data(CREATE_OWNER, {"e": "wang.fang@example.com", "p": "violet-harbour-engine"}, as_="admin")
    assert payload["createAccountOwner"]["userErrors"] == []


def test_change_password_refuses_a_common_password_or_the_email(app):
    for new, code in (("iloveyou123", "COMMON_PASSWORD"), ("agent@example.com", "PASSWORD_IS_EMAIL")):
        data = app.data(CHANGE_PASSWORD, {"current": TEST_PASSWORD, "new": new}, as_="agent")
        assert [(e["field"], e["code"]) for e in data["changePassword"]["userErrors"]] == [("newPassword", code)]
    assert login(app, "agent@example.com")["token"]  # the old password still works


def fail(app, email, times):
    for _ in range(times):
        assert codes(login(app, email, WRONG)) == [("password", "INVALID_CREDENTIALS")]


def test_right_password_is_refused_after_ten_failures_until_the_lock_expires(app):
    fail(app, "agent@example.com", 10)
    locked = login(app, "agent@example.com")
    assert locked["token"] is None
    assert codes(locked) == [("email", "LOCKED_OUT")]
    app.clock.advance(minutes=14, seconds=59)
    assert codes(login(app, "agent@example.com")) == [("email", "LOCKED_OUT")]
    app.clock.advance(seconds=1)
    assert login(app, "agent@example.com")["viewer"]["email"] == "agent@example.com"


@pytest.fixture
def strict_app(make_app):
    """Three failures lock an account for five minutes (fewer slow argon2 checks)."""
    return make_app(config={"auth": {"max_failed_logins": 3, "lockout_minutes": 5}})


def test_failures_below_the_limit_do_not_lock_and_a_success_resets_the_count(strict_app):
    app = strict_app
    fail(app, "agent@example.com", 2)
    assert login(app, "agent@example.com")["userErrors"] == []
    fail(app, "agent@example.com", 2)
    assert login(app, "agent@example.com")["userErrors"] == []


def test_lock_applies_to_one_account_only(strict_app):
    app = strict_app
    fail(app, "agent@example.com", 3)
    assert codes(login(app, "agent@example.com")) == [("email", "LOCKED_OUT")]
    assert login(app, "agent2@example.com")["userErrors"] == []


def test_unknown_email_is_locked_like_a_real_one(strict_app):
    # Otherwise the lock itself would tell which e-mails have accounts.
    fail(strict_app, "nobody@example.com", 3)
    assert codes(login(strict_app, "nobody@example.com", WRONG)) == [("email", "LOCKED_OUT")]


def test_lockout_follows_the_configured_limit_and_duration(strict_app):
    app = strict_app
    fail(app, "agent@example.com", 3)
    assert codes(login(app, "agent@example.com")) == [("email", "LOCKED_OUT")]
    app.clock.advance(minutes=4, seconds=59)
    assert codes(login(app, "agent@example.com")) == [("email", "LOCKED_OUT")]
    app.clock.advance(seconds=1)
    assert login(app, "agent@example.com")["userErrors"] == []


def test_failures_count_afresh_after_a_lock_expires(strict_app):
    app = strict_app
    fail(app, "agent@example.com", 3)
    app.clock.advance(minutes=6)
    fail(app, "agent@example.com", 2)  # not 4 and 5: the old count is gone
    assert login(app, "agent@example.com")["userErrors"] == []


def test_one_client_address_is_locked_after_many_failures_across_accounts(make_app):
    # An address gets five times the per-account limit (offices share one).
    app = make_app(config={"auth": {"max_failed_logins": 2}})
    for i in range(10):
        fail(app, f"guess{i}@example.com", 1)
    assert codes(login(app, "admin@example.com")) == [("email", "LOCKED_OUT")]


def test_right_passwords_do_not_use_up_the_addresss_tries(make_app):
    # An office behind one address signs in all morning: only failures count.
    app = make_app(config={"auth": {"max_failed_logins": 2}})
    for _ in range(12):  # more than the address's 10
        assert login(app, "admin@example.com")["userErrors"] == []
    for i in range(10):
        fail(app, f"guess{i}@example.com", 1)
    assert codes(login(app, "admin@example.com")) == [("email", "LOCKED_OUT")]


def test_deactivated_owner_cannot_sign_in(app):
    app.data(DEACTIVATE, {"id": owner_gid(app, "agent"), "active": False}, as_="admin")
    assert login(app, "agent@example.com") == login(app, "nobody@example.com", WRONG)


# --------------------------------------------------------------------------- deactivation


def test_deactivated_owners_token_stops_working(app):
    session = login(app, "agent@example.com")["token"]
    assert signed_in_as(app, session) == "agent@example.com"
    data = app.data(DEACTIVATE, {"id": owner_gid(app, "agent"), "active": False}, as_="admin")
    assert data["updateAccountOwner"] == {"accountOwner": {"active": False}, "userErrors": []}
    assert signed_in_as(app, session) is None
    assert signed_in_as(app, app.tokens["agent"]) is None


def test_reactivated_owner_signs_in_again_but_old_tokens_stay_dead(app):
    owner = owner_gid(app, "agent")
    app.data(DEACTIVATE, {"id": owner, "active": False}, as_="admin")
    app.data(DEACTIVATE, {"id": owner, "active": True}, as_="admin")
    assert signed_in_as(app, app.tokens["agent"]) is None
    assert login(app, "agent@example.com")["userErrors"] == []


def test_admin_cannot_deactivate_themselves(app):
    data = app.data(DEACTIVATE, {"id": owner_gid(app, "admin"), "active": False}, as_="admin")
    assert data["updateAccountOwner"] == {"accountOwner": None, "userErrors": [{"code": "SELF_LOCKOUT"}]}
    assert signed_in_as(app, app.tokens["admin"]) == "admin@example.com"


# --------------------------------------------------------------------------- API tokens


def create_token(app, name="crm-sync", role="AGENT", days=None):
    return app.data(CREATE_TOKEN, {"name": name, "role": role, "days": days}, as_="admin")["createApiToken"]


def test_api_token_is_created_and_acts_as_a_service_account_of_its_role(app):
    created = create_token(app, "warehouse", "ANALYST")
    assert created["userErrors"] == []
    assert created["apiToken"]["name"] == "warehouse" and created["apiToken"]["role"] == "ANALYST"
    assert created["token"].startswith("kh_")
    me = app.data(ME, token=created["token"])["me"]
    assert me["role"] == "ANALYST" and me["isService"] is True


def test_api_token_with_admin_role_can_manage_tokens(app):
    token = create_token(app, "provisioning", "ADMIN")["token"]
    data = app.data("{ apiTokens { name } }", token=token)
    assert data["apiTokens"] == [{"name": "provisioning"}]


def test_api_tokens_are_listed_without_their_secret(app):
    secret = create_token(app, "crm-sync")["token"]
    response = app.post("{ apiTokens { id name role createdAt expiresAt revokedAt lastUsedAt } }", as_="admin")
    assert secret not in response.text
    assert secret[3:] not in response.text
    [listed] = response.json()["data"]["apiTokens"]
    assert listed["name"] == "crm-sync" and listed["role"] == "AGENT" and listed["revokedAt"] is None
    fields = app.data('{ __type(name: "ApiToken") { fields { name } } }', as_="admin")["__type"]["fields"]
    assert sorted(f["name"] for f in fields) == [
        "createdAt",
        "expiresAt",
        "id",
        "lastUsedAt",
        "name",
        "revokedAt",
        "role",
    ]


def test_revoked_api_token_stops_working_and_leaves_the_active_list(app):
    created = create_token(app, "crm-sync")
    assert signed_in_as(app, created["token"]) is not None
    data = app.data(REVOKE_TOKEN, {"id": created["apiToken"]["id"]}, as_="admin")
    assert data["revokeApiToken"]["userErrors"] == []
    assert data["revokeApiToken"]["apiToken"]["revokedAt"] == app.clock.now().isoformat()
    assert signed_in_as(app, created["token"]) is None
    assert app.data("{ apiTokens { name } }", as_="admin")["apiTokens"] == []
    listed = app.data("{ apiTokens(includeRevoked: true) { name revokedAt } }", as_="admin")["apiTokens"]
    assert listed == [{"name": "crm-sync", "revokedAt": app.clock.now().isoformat()}]


def test_revoking_twice_is_a_conflict(app):
    token_id = create_token(app)["apiToken"]["id"]
    app.data(REVOKE_TOKEN, {"id": token_id}, as_="admin")
    data = app.data(REVOKE_TOKEN, {"id": token_id}, as_="admin")
    assert data["revokeApiToken"] == {"apiToken": None, "userErrors": [{"field": "id", "code": "CONFLICT"}]}


def test_revoking_an_unknown_token_is_not_found(app):
    data = app.data(REVOKE_TOKEN, {"id": gid("ApiToken", 4242)}, as_="admin")
    assert data["revokeApiToken"] == {"apiToken": None, "userErrors": [{"field": "id", "code": "NOT_FOUND"}]}


def test_session_tokens_cannot_be_revoked_as_api_tokens(app):
    session_id = app.run(lambda: AccessToken.filter(kind=TokenKind.SESSION).first().values_list("id", flat=True))
    data = app.data(REVOKE_TOKEN, {"id": gid("ApiToken", session_id)}, as_="admin")
    assert [e["code"] for e in data["revokeApiToken"]["userErrors"]] == ["NOT_FOUND"]


def test_api_token_names_are_unique_among_active_tokens(app):
    first = create_token(app, "crm-sync")
    assert codes(create_token(app, "crm-sync")) == [("name", "DUPLICATE")]
    app.data(REVOKE_TOKEN, {"id": first["apiToken"]["id"]}, as_="admin")
    assert create_token(app, "crm-sync")["userErrors"] == []


def test_api_token_expires_after_the_given_days(app):
    created = create_token(app, "temp", days=2)
    assert created["apiToken"]["expiresAt"] == (app.clock.now() + dt.timedelta(days=2)).isoformat()
    app.clock.advance(days=1, hours=23)
    assert signed_in_as(app, created["token"]) is not None
    app.clock.advance(hours=1)
    assert signed_in_as(app, created["token"]) is None


@pytest.mark.parametrize("days", [0, -1, 3651])
def test_api_token_lifetime_out_of_range_is_refused(app, days):
    assert codes(create_token(app, "temp", days=days)) == [("expiresInDays", "INVALID")]
    assert app.data("{ apiTokens { name } }", as_="admin")["apiTokens"] == []


def test_deactivating_a_tokens_service_account_stops_the_token(app):
    token = create_token(app, "crm-sync")["token"]
    service_id = app.run(lambda: AccountOwner.get(is_service=True).values_list("id", flat=True))
    app.data(DEACTIVATE, {"id": gid("AccountOwner", service_id), "active": False}, as_="admin")
    assert signed_in_as(app, token) is None


def test_service_account_cannot_sign_in_with_a_password(app):
    create_token(app, "crm-sync")
    email = app.run(lambda: AccountOwner.get(is_service=True).values_list("email", flat=True))
    assert codes(login(app, email, WRONG)) == [("password", "INVALID_CREDENTIALS")]
    assert codes(login(app, email, "")) == [("password", "INVALID_CREDENTIALS")]


def test_api_token_secret_is_stored_only_as_its_hash(app):
    secret = create_token(app)["token"]
    stored = app.run(lambda: AccessToken.get(kind=TokenKind.API).values_list("token_hash", flat=True))
    assert stored == hashlib.sha256(secret.encode()).hexdigest()


class CountingHasher:
    """Stands in for the argon2 hasher and counts the password checks."""

    def __init__(self, real):
        self.real = real
        self.verifications = 0

    def verify(self, password_hash, password):
        self.verifications += 1
        return self.real.verify(password_hash, password)


def burst(app, attempts):
    """Send every (email, password) at once over HTTP; returns the login payloads."""
    import asyncio

    import httpx

    async def send_all():
        transport = httpx.ASGITransport(app=app.app, client=("198.51.100.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kehu") as client:
            responses = await asyncio.gather(
                *(
                    client.post("/graphql", json={"query": LOGIN, "variables": {"email": e, "password": p}})
                    for e, p in attempts
                )
            )
        return [r.json()["data"]["login"] for r in responses]

    return app.run(send_all)


@pytest.mark.parametrize("right_at", ["first", "last"])
def test_a_parallel_burst_checks_at_most_the_limit_and_signs_nobody_in(app, monkeypatch, right_at):
    from kehu import credentials as auth

    hasher = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", hasher)
    wrong = [("agent@example.com", f"wrong-password-{i}") for i in range(30)]
    right = ("agent@example.com", TEST_PASSWORD)
    answers = burst(app, [right, *wrong] if right_at == "first" else [*wrong, right])
    assert hasher.verifications <= 10
    assert [a["token"] for a in answers] == [None] * 31
    outcomes = sorted(e["code"] for a in answers for e in a["userErrors"])
    assert outcomes.count("LOCKED_OUT") >= 21
    assert set(outcomes) == {"LOCKED_OUT", "INVALID_CREDENTIALS"}
    # The account stays locked afterwards, for the right password too.
    assert codes(login(app, "agent@example.com")) == [("email", "LOCKED_OUT")]


def test_a_burst_across_accounts_checks_at_most_the_address_limit(make_app, monkeypatch):
    from kehu import credentials as auth

    app = make_app(config={"auth": {"max_failed_logins": 2}})  # the address: 5 x 2
    hasher = CountingHasher(auth._hasher)
    monkeypatch.setattr(auth, "_hasher", hasher)
    answers = burst(app, [(f"guess{i}@example.com", "wrong-password-1") for i in range(25)])
    assert hasher.verifications <= 10
    assert sum(a["userErrors"][0]["code"] == "LOCKED_OUT" for a in answers) >= 15


def test_failed_sign_ins_are_slowed_before_the_lock(app):
    """Held back from the fourth failure on, longer each time (capped), then locked."""
    login = (
        'mutation { login(input: {email: "agent@example.com", password: "wrong-password-1"}) { userErrors { code } } }'
    )
    for _ in range(9):
        app.gql(login)
    assert app.clock.slept == [1, 2, 3, 4, 5, 5]


def test_old_failures_stop_counting(app):
    login = 'mutation($p: String!) { login(input: {email: "agent@example.com", password: $p}) { token userErrors { code } } }'
    for _ in range(9):
        app.gql(login, {"p": "wrong-password-1"})
    app.clock.advance(minutes=16)  # longer than the lockout window since the last failure
    for _ in range(9):
        app.gql(login, {"p": "wrong-password-1"})
    body = app.data(login, {"p": "correct-horse-battery"})
    assert body["login"]["token"], "18 failures, but never 10 within the window"
