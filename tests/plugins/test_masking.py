"""The masking plugin: strategies, policies per role, search and ordering,
reveals with their disclosure log, exports, audit values, event payloads and
encryption at rest. The leak suite is in test_masking_leaks.py."""

import io
import json
import logging
from pathlib import Path

import pytest

from kehu.cli.demo import seed_demo
from kehu.errors import ConfigError
from kehu.models import Customer, OutboxEvent
from kehu.plugins.masking.service import apply_strategy, last4, partial
from kehu.plugins.masking.service.crypto import Keyring, generate_key, pseudonym
from kehu.policies import Strategy
from kehu.testing import KehuHarness

CUSTOMERS = "{ customers(first: 100) { edges { node { id name email phone address attributes } } } }"
CREATE = """mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id phone } userErrors { field code message } } }"""
REVEAL = """mutation($input: RevealFieldInput!) {
  revealField(input: $input) { value disclosure { id field reason actorLabel } userErrors { field code message } } }"""
DISCLOSURES = "{ disclosureLog { totalCount edges { node { field reason actor { email } customer { id } } } } }"


def make_customer(app, as_="admin", **fields):
    values = {"name": "Li Lei", "email": "lilei@example.com", "phone": "+86 138 1234 5678", **fields}
    data = app.data(CREATE, {"input": values}, as_=as_)["createCustomer"]
    assert not data["userErrors"], data
    return data["customer"]["id"]


@pytest.fixture
def key(monkeypatch):
    value = generate_key()
    monkeypatch.setenv("KEHU_MASKING_KEY", value)
    return value


# --------------------------------------------------------------------------- strategies


def test_partial_shapes_follow_the_kind():
    assert partial("phone", "13812345678") == "138****5678"
    assert partial("phone", "+86 138 1234 5678") == "+86 138****5678"
    assert partial("email", "john@example.com") == "j***@example.com"
    assert partial("name", "张三") == "张*"
    assert partial("name", "John Doe") == "J*** D***"
    assert last4("phone", "138-1234-5678") == "****5678"


def test_hash_is_a_keyed_stable_pseudonym():
    key_a, key_b = b"a" * 32, b"b" * 32
    first = apply_strategy(Strategy.HASH, "email", "Jo@Example.com", key_a)
    assert first == apply_strategy(Strategy.HASH, "email", "jo@example.com", key_a)  # joins survive case
    assert first != apply_strategy(Strategy.HASH, "email", "jo@example.com", key_b)
    assert first.startswith("anon-") and "example" not in first
    assert pseudonym(key_a, "x") != pseudonym(key_a, "y")


def test_redact_and_null_values():
    assert apply_strategy(Strategy.REDACT, "text", "secret", None) == "[redacted]"
    assert apply_strategy(Strategy.REDACT, "text", ["a", "b"], None) == ["[redacted]", "[redacted]"]
    assert apply_strategy(Strategy.PARTIAL, "phone", None, None) is None


def test_hash_without_a_key_fails_closed():
    assert apply_strategy(Strategy.HASH, "email", "jo@example.com", None) == "[redacted]"


def test_sealed_values_open_only_in_their_own_field():
    ring = Keyring.from_environment({"KEHU_MASKING_KEY": generate_key()})
    sealed = ring.seal("+86 138 1234 5678", "Customer.phone")
    assert "138" not in sealed and ring.open(sealed, "Customer.phone") == "+86 138 1234 5678"
    with pytest.raises(Exception):  # noqa: B017 (AES-GCM raises InvalidTag; any failure to open will do)
        ring.open(sealed, "Customer.email")


# --------------------------------------------------------------------------- policies per role


def test_analyst_sees_partial_values_and_admin_clear(make_app):
    app = make_app(enabled=("masking",))
    make_customer(app)
    analyst = app.data(CUSTOMERS, as_="analyst")["customers"]["edges"][0]["node"]
    assert analyst["phone"] == "+86 138****5678"
    assert analyst["email"] == "l***@example.com"
    assert analyst["name"] == "L*** L***"
    admin = app.data(CUSTOMERS, as_="admin")["customers"]["edges"][0]["node"]
    assert admin["phone"] == "+86 138 1234 5678" and admin["email"] == "lilei@example.com"


def test_plugins_toml_overrides_a_strategy_per_role_and_field(make_app, key):
    app = make_app(
        enabled=("masking",),
        settings={
            "masking": {
                "fields": {
                    "Customer.phone": {"ANALYST": "LAST4", "MANAGER": "PARTIAL"},
                    "Customer.email": {"ANALYST": "HASH"},
                }
            }
        },
    )
    make_customer(app, as_="manager")
    analyst = app.data(CUSTOMERS, as_="analyst")["customers"]["edges"][0]["node"]
    assert analyst["phone"] == "****5678"
    assert analyst["email"].startswith("anon-")
    manager = app.data(CUSTOMERS, as_="manager")["customers"]["edges"][0]["node"]
    assert manager["phone"] == "+86 138****5678"


def test_a_role_without_a_rule_is_redacted(make_app):
    app = make_app(enabled=("masking",))
    make_customer(app)
    guard = app.kehu.field_guard
    guard.policies["Customer.phone"].by_role.pop("AGENT")  # a policy naming no rule for AGENT
    customer_id = make_customer(app, as_="agent", phone="+86 139 0000 1111")
    node = app.data("query($id: ID!) { node(id: $id) { ... on Customer { phone } } }", {"id": customer_id}, as_="agent")
    assert node["node"]["phone"] == "[redacted]"


def test_owner_sees_own_customers_in_clear_when_configured(make_app):
    settings = {"masking": {"owner_sees_clear": True, "fields": {"Customer.phone": {"AGENT": "PARTIAL"}}}}
    app = make_app(enabled=("masking",), settings=settings)
    make_customer(app, as_="agent")
    make_customer(app, as_="agent2", phone="+86 139 0000 1111")
    own = app.data(CUSTOMERS, as_="agent")["customers"]["edges"][0]["node"]
    assert own["phone"] == "+86 138 1234 5678"
    # agent2's customer, seen by a manager who does not own it: still clear (MANAGER: CLEAR);
    # seen by its own agent: clear; the policy for AGENT applies to others' customers only.
    other = app.data(CUSTOMERS, as_="agent2")["customers"]["edges"][0]["node"]
    assert other["phone"] == "+86 139 0000 1111"


def test_a_settings_field_without_policy_stops_startup(db_url):
    with pytest.raises(ConfigError, match="no plugin declares a policy for Customer.nickname"):
        with KehuHarness(
            db_url, enabled=("masking",), settings={"masking": {"fields": {"Customer.nickname": {"ANALYST": "CLEAR"}}}}
        ):
            pass


def test_survey_text_answers_carry_a_policy(make_app):
    app = make_app(enabled=("surveys", "masking"))
    assert "SurveyTextAnswer.text" in {p.key for p in app.kehu.field_policies}


# --------------------------------------------------------------------------- search and ordering


SEARCH = "query($s: String) { customers(filter: {search: $s}) { totalCount } }"


def test_analyst_cannot_find_out_whether_a_phone_number_exists(make_app):
    app = make_app(enabled=("masking",))
    make_customer(app)
    existing = app.data(SEARCH, {"s": "+86 138 1234 5678"}, as_="analyst")["customers"]["totalCount"]
    missing = app.data(SEARCH, {"s": "+86 999 9999 9999"}, as_="analyst")["customers"]["totalCount"]
    assert existing == missing == 0
    assert app.data(SEARCH, {"s": "lilei@"}, as_="analyst")["customers"]["totalCount"] == 0
    assert app.data(SEARCH, {"s": "1234 5678"}, as_="admin")["customers"]["totalCount"] == 1


def test_analyst_cannot_order_by_a_masked_name(make_app):
    app = make_app(enabled=("masking",))
    make_customer(app)
    body = app.gql("{ customers(orderBy: {field: NAME}) { totalCount } }", as_="analyst")
    assert body["errors"][0]["extensions"]["code"] == "MASKED_FIELD"
    assert app.data("{ customers(orderBy: {field: NAME}) { totalCount } }", as_="admin")["customers"]["totalCount"] == 1


def test_without_masking_search_and_order_are_unchanged(make_app):
    app = make_app()
    make_customer(app)
    assert app.data(SEARCH, {"s": "1234 5678"}, as_="analyst")["customers"]["totalCount"] == 1
    assert (
        app.data("{ customers(orderBy: {field: NAME}) { totalCount } }", as_="analyst")["customers"]["totalCount"] == 1
    )


# --------------------------------------------------------------------------- reveal


def test_reveal_requires_a_reason_then_returns_the_value_and_one_disclosure(make_app):
    app = make_app(enabled=("masking",))
    customer_id = make_customer(app, as_="manager")
    refused = app.data(REVEAL, {"input": {"customerId": customer_id, "field": "phone"}}, as_="manager")["revealField"]
    assert refused["value"] is None and refused["userErrors"][0]["field"] == "reason"
    assert app.data(DISCLOSURES, as_="admin")["disclosureLog"]["totalCount"] == 0

    reason = "customer called back, verifying identity"
    shown = app.data(REVEAL, {"input": {"customerId": customer_id, "field": "phone", "reason": reason}}, as_="manager")[
        "revealField"
    ]
    assert shown["userErrors"] == [] and shown["value"] == "+86 138 1234 5678"
    log = app.data(DISCLOSURES, as_="admin")["disclosureLog"]
    assert log["totalCount"] == 1
    entry = log["edges"][0]["node"]
    assert entry == {
        "field": "Customer.phone",
        "reason": reason,
        "actor": {"email": "manager@example.com"},
        "customer": {"id": customer_id},
    }


def test_reveal_is_for_granted_roles_only(make_app):
    app = make_app(enabled=("masking",))
    customer_id = make_customer(app)
    args = {"input": {"customerId": customer_id, "field": "email", "reason": "needed for the invoice"}}
    for role in ("analyst", "agent"):
        body = app.gql(REVEAL, args, as_=role)
        assert body.get("errors") or body["data"]["revealField"]["userErrors"], role
    assert app.gql(DISCLOSURES, as_="manager")["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert app.data(DISCLOSURES, as_="admin")["disclosureLog"]["totalCount"] == 0


def test_reveal_is_rate_limited(make_app):
    app = make_app(enabled=("masking",), settings={"masking": {"reveal_limit": 2}})
    customer_id = make_customer(app, as_="manager")
    args = {"input": {"customerId": customer_id, "field": "phone", "reason": "calling about the order"}}
    for _ in range(2):
        assert app.data(REVEAL, args, as_="manager")["revealField"]["value"]
    third = app.data(REVEAL, args, as_="manager")["revealField"]
    assert third["value"] is None and third["userErrors"][0]["code"] == "RATE_LIMITED"
    assert app.data(DISCLOSURES, as_="admin")["disclosureLog"]["totalCount"] == 2


def test_reveal_of_an_unknown_field_or_invisible_customer_is_refused(make_app):
    app = make_app(enabled=("masking",))
    customer_id = make_customer(app, as_="manager_south")
    bad_field = app.data(
        REVEAL, {"input": {"customerId": customer_id, "field": "region", "reason": "just curious now"}}, as_="admin"
    )
    assert bad_field["revealField"]["userErrors"][0]["code"] == "UNKNOWN_FIELD"
    foreign = app.gql(
        REVEAL,
        {"input": {"customerId": customer_id, "field": "phone", "reason": "calling about the order"}},
        as_="manager",
    )
    assert foreign.get("errors") or foreign["data"]["revealField"]["userErrors"]
    assert app.data(DISCLOSURES, as_="admin")["disclosureLog"]["totalCount"] == 0


# --------------------------------------------------------------------------- exports, audit log, events, errors


def test_exports_are_masked_for_the_viewer(make_app):
    from kehu.access import Viewer
    from kehu.cli.transfer import export_customers

    app = make_app(enabled=("masking",))
    make_customer(app)
    analyst = app.accounts["analyst"]
    viewer = Viewer(owner=analyst, permissions=app.kehu.permissions_for(analyst.role))

    async def export(viewer):
        out = io.StringIO()
        await export_customers(app.kehu, out, format="jsonl", viewer=viewer)
        return json.loads(out.getvalue().splitlines()[0])

    masked = app.run(export, viewer)
    assert masked["phone"] == "+86 138****5678" and masked["email"] == "l***@example.com"
    assert app.run(export, None)["phone"] == "+86 138 1234 5678"  # the CLI: whoever holds the database


def test_audit_values_are_masked_per_viewer(make_app):
    app = make_app(enabled=("masking",), config={"roles": {"ANALYST": ["audit.read"]}})
    customer_id = make_customer(app)
    app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, phone: "+86 139 8765 4321"}) { userErrors { code } } }',
        {"id": customer_id},
        as_="admin",
    )
    query = '{ auditLog(first: 1, filter: {operation: "updateCustomer"}) { edges { node { id changes } } } }'
    admin = app.data(query, as_="admin")["auditLog"]["edges"][0]["node"]
    assert admin["changes"]["phone"] == {"before": "+86 138 1234 5678", "after": "+86 139 8765 4321"}
    analyst = app.data(query, as_="analyst")["auditLog"]["edges"][0]["node"]
    assert analyst["changes"]["phone"] == {"before": "+86 138****5678", "after": "+86 139****4321"}
    node = app.data(
        "query($id: ID!) { node(id: $id) { ... on AuditEntry { changes } } }", {"id": analyst["id"]}, as_="analyst"
    )
    assert "8765" not in json.dumps(node)


def listener(seen: list):
    import types

    from kehu import hookimpl

    @hookimpl
    def kehu_customer_created(customer):
        seen.append(customer)

    return types.SimpleNamespace(kehu_customer_created=kehu_customer_created)


def test_untrusted_plugins_receive_masked_copies(make_app):
    untrusted_seen, trusted_seen = [], []
    app = make_app(
        enabled=("masking", "spy", "friend"),
        extra_plugins={"spy": listener(untrusted_seen), "friend": listener(trusted_seen)},
        settings={"masking": {"trusted_plugins": ["friend"]}},
    )
    make_customer(app)
    assert trusted_seen[0].phone == "+86 138 1234 5678"
    copy = untrusted_seen[0]
    assert copy.phone == "+86 138****5678" and copy.email == "l***@example.com"
    with pytest.raises(Exception, match="masked copy"):
        app.run(copy.save)
    assert app.run(lambda: Customer.get(id=copy.id)).phone == "+86 138 1234 5678"


def test_invalid_email_messages_do_not_echo_the_value(make_app, caplog):
    app = make_app(enabled=("masking",))
    caplog.set_level(logging.DEBUG)
    body = app.gql(CREATE, {"input": {"name": "X", "email": "secret-person-at-nowhere"}}, as_="admin")
    assert "secret-person" not in json.dumps(body) and "secret-person" not in caplog.text


# --------------------------------------------------------------------------- encryption at rest


def encrypted_settings(**extra):
    return {
        "masking": {
            "encrypted_fields": ["Customer.phone", "Customer.attributes.id_number"],
            "personal_attributes": {"id_number": "id_number"},
            **extra,
        }
    }


def test_the_server_refuses_to_start_without_the_key(db_url, monkeypatch):
    monkeypatch.delenv("KEHU_MASKING_KEY", raising=False)
    with pytest.raises(Exception, match="KEHU_MASKING_KEY"):
        with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings()):
            pass


def demo_phones(app):
    async def phones():
        return [c.phone for c in await Customer.filter(phone__not_isnull=True)]

    return app.run(phones)


def test_demo_data_is_encrypted_on_disk_and_exact_lookup_still_works(make_app, key, db_url):
    app = make_app(enabled=("masking",), settings=encrypted_settings())
    app.run(lambda: seed_demo(app.kehu, force=True))  # beside the test accounts
    phones = demo_phones(app)
    assert len(phones) > 50
    if db_url.startswith("sqlite://"):
        app.run(lambda: app.kehu.ctx.db().execute_script("PRAGMA wal_checkpoint(TRUNCATE)"))
        path = Path(db_url[len("sqlite://") :])
        blob = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        leaked = [p for p in phones if p.encode() in blob or "".join(ch for ch in p if ch.isdigit()).encode() in blob]
        assert leaked == []
    else:

        async def raw():
            return await app.kehu.ctx.db().execute_query_dict("SELECT phone FROM kehu_customer WHERE phone IS NOT NULL")

        stored = [r["phone"] for r in app.run(raw)]
        assert all(s.startswith("kehu:e1:") for s in stored) and not set(stored) & set(phones)
    found = app.data(SEARCH, {"s": phones[0]}, as_="admin")["customers"]["totalCount"]
    assert found >= 1
    assert app.data(SEARCH, {"s": phones[0]}, as_="analyst")["customers"]["totalCount"] == 0


def test_updates_audit_values_and_event_arguments_are_stored_encrypted(make_app, key):
    app = make_app(enabled=("masking",), settings=encrypted_settings())
    customer_id = make_customer(app, attributes={"id_number": "110101199003077777", "tier": "gold"})
    app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, phone: "+86 139 8765 4321"}) { userErrors { code } } }',
        {"id": customer_id},
        as_="admin",
    )

    async def raw():
        db = app.kehu.ctx.db()
        customers = await db.execute_query_dict("SELECT phone, attributes FROM kehu_customer")
        audit = await db.execute_query_dict("SELECT changes FROM kehu_audit_entry")
        # kehu_customer_updated's changes, kept in the outbox for [events] keep_days
        events = await db.execute_query_dict("SELECT arguments FROM kehu_outbox")
        return json.dumps(customers, default=str) + json.dumps(audit, default=str) + json.dumps(events, default=str)

    stored = app.run(raw)
    for clear in ("8765 4321", "1234 5678", "110101199003077777"):
        assert clear not in stored
    assert "gold" in stored  # other attributes stay searchable JSON
    # Read back, a redelivered event carries the values in clear.
    [updated] = app.run(lambda: OutboxEvent.filter(name="kehu_customer_updated"))
    assert updated.arguments["changes"]["phone"] == {"$tuple": ["+86 138 1234 5678", "+86 139 8765 4321"]}
    admin = app.data("{ customers { edges { node { phone attributes } } } }", as_="admin")["customers"]["edges"][0][
        "node"
    ]
    assert admin == {"phone": "+86 139 8765 4321", "attributes": {"id_number": "110101199003077777", "tier": "gold"}}
    analyst = app.data("{ customers { edges { node { attributes } } } }", as_="analyst")["customers"]["edges"][0][
        "node"
    ]
    assert analyst["attributes"] == {"id_number": "[redacted]", "tier": "gold"}
    assert app.data(SEARCH, {"s": "+86 139 8765 4321"}, as_="admin")["customers"]["totalCount"] == 1
    assert app.data(SEARCH, {"s": "+86 138 1234 5678"}, as_="admin")["customers"]["totalCount"] == 0


def test_the_outbox_shows_an_events_changes_as_its_reader_sees_those_fields(make_app):
    """A manager given events.manage, who sees phones partly masked, reads a
    customer's old and new phone in the outbox no more clearly than on the customer."""
    app = make_app(
        enabled=("masking",),
        settings={"masking": {"fields": {"Customer.phone": {"MANAGER": "PARTIAL"}}}},
        config={"roles": {"MANAGER": ["events.manage"]}},
    )
    customer_id = make_customer(app)
    app.data(
        'mutation($id: ID!) { updateCustomer(input: {id: $id, phone: "+86 139 8765 4321"}) { userErrors { code } } }',
        {"id": customer_id},
        as_="admin",
    )
    events = "{ outboxEvents(state: DONE) { edges { node { name arguments } } } }"

    def changes(as_):
        edges = app.data(events, as_=as_)["outboxEvents"]["edges"]
        [updated] = [e["node"]["arguments"] for e in edges if e["node"]["name"] == "kehu_customer_updated"]
        return updated["changes"]["phone"]["$tuple"]

    assert changes("admin") == ["+86 138 1234 5678", "+86 139 8765 4321"]
    before, after = changes("manager")
    assert "1234 5678" not in before and "8765 4321" not in after and after.endswith("4321")


def test_existing_clear_values_are_encrypted_at_startup(db_url, key, monkeypatch):
    with KehuHarness(db_url, enabled=("masking",)) as app:  # masking without encryption
        customer_id = make_customer(app)
        app.data(
            'mutation($id: ID!) { updateCustomer(input: {id: $id, phone: "+86 139 8765 4321"}) { userErrors { code } } }',
            {"id": customer_id},
            as_="admin",
        )
    with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings(), seed_accounts=False) as app:

        async def raw():
            db = app.kehu.ctx.db()
            return (
                await db.execute_query_dict("SELECT phone FROM kehu_customer"),
                json.dumps(await db.execute_query_dict("SELECT arguments FROM kehu_outbox"), default=str),
            )

        customers, events = app.run(raw)
        assert customers[0]["phone"].startswith("kehu:e1:")
        assert "8765 4321" not in events and "1234 5678" not in events and "kehu:e1:" in events
        assert app.run(lambda: Customer.first()).phone == "+86 139 8765 4321"


def test_key_rotation_reencrypts_while_the_old_key_is_accepted(db_url, monkeypatch):
    from kehu.plugins.masking.service import reseal

    old, new = generate_key(), generate_key()
    monkeypatch.setenv("KEHU_MASKING_KEY", old)
    with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings()) as app:
        make_customer(app)
    monkeypatch.setenv("KEHU_MASKING_KEY", new)
    monkeypatch.setenv("KEHU_MASKING_PREVIOUS_KEYS", old)
    with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings(), seed_accounts=False) as app:
        assert app.run(lambda: Customer.first()).phone == "+86 138 1234 5678"  # old ciphertext still opens
        counts = app.run(lambda: reseal(app.kehu, batch_size=1))
        assert counts["customers"] == 1 and counts["audit_entries"] >= 1
        ring = app.kehu.field_guard.keyring

        async def raw():
            db = app.kehu.ctx.db()
            return (
                [r["phone"] for r in await db.execute_query_dict("SELECT phone FROM kehu_customer")],
                [r["changes"] for r in await db.execute_query_dict("SELECT changes FROM kehu_audit_entry")],
            )

        phones, audits = app.run(raw)
        assert all(p.startswith(f"kehu:e1:{ring.current.id}:") for p in phones)
        assert all(ring.current.id in str(a) for a in audits if "kehu:e1:" in str(a))
    monkeypatch.delenv("KEHU_MASKING_PREVIOUS_KEYS")
    with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings(), seed_accounts=False) as app:
        assert app.run(lambda: Customer.first()).phone == "+86 138 1234 5678"
    monkeypatch.setenv("KEHU_MASKING_KEY", old)  # only the retired key: refuse rather than serve garbage
    with pytest.raises(Exception, match="neither KEHU_MASKING_KEY"):
        with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings(), seed_accounts=False):
            pass


def test_ciphertext_without_the_encryption_setting_refuses_to_start(db_url, key):
    with KehuHarness(db_url, enabled=("masking",), settings=encrypted_settings()) as app:
        make_customer(app)
    with pytest.raises(Exception, match="holds encrypted values"):
        with KehuHarness(db_url, enabled=("masking",), seed_accounts=False):
            pass


def test_every_orm_read_path_sees_clear_values_and_the_column_ciphertext(make_app, key):
    from kehu.models import AuditEntry

    app = make_app(enabled=("masking",), settings=encrypted_settings())
    make_customer(app)

    async def reads():
        return (
            (await Customer.first()).phone,
            (await Customer.all().values("phone"))[0]["phone"],
            (await Customer.all().values_list("phone", flat=True))[0],
            type((await AuditEntry.all().values("changes"))[-1]["changes"]),
        )

    assert app.run(reads) == ("+86 138 1234 5678",) * 3 + (dict,)
