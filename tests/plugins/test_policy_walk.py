"""Masking on every path, by construction: every column a field policy names is
filled with canaries and the whole composed schema is walked as ANALYST
(kehu.testing.policy_leaks), with every permission for the walk. A canary in any
answer is a field that shows a classified column — or a copy of it — without its
policy; a list of customers in the order of their masked names is an ordering
oracle."""

import types

import strawberry
from test_complaints import file_complaint
from test_complaints import service as complaints_service
from test_surveys import create_survey, invite

from kehu import hookimpl
from kehu.cli.demo import seed_demo
from kehu.ids import to_global_id
from kehu.models import Customer
from kehu.server.plugin_manager import BUILTIN_PLUGINS
from kehu.testing import WALK_LIMITS, plant_canaries, policy_leaks
from kehu.testing.leaks import Canaries

PLUGINS = ("segmentation", "loyalty", "complaints", "surveys", "masking")
SETTINGS = {
    "notifications": {"public_base_url": "http://testserver"},
    "complaints": {"scheduler_interval_minutes": 0},
    "webhooks": {"allow_private": ["127.0.0.1"]},
}
SEGMENT = """mutation($i: CreateSegmentInput!) { createSegment(input: $i) { userErrors { code message } } }"""
FILE = """mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { complaint { id } userErrors { code message } } }"""
ENDPOINT = """mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { userErrors { code } } }"""
TAG = """mutation($i: UpdateCustomerInput!) { updateCustomer(input: $i) { userErrors { code message } } }"""


def seeded(make_app, plugins=PLUGINS, extra=None, settings=None):
    app = make_app(enabled=plugins, config=WALK_LIMITS, extra_plugins=extra, settings=settings)
    app.run(lambda: seed_demo(app.kehu, customers=40, force=True))  # beside the test accounts
    return app


def _copies_into_every_plugin(app, planted_customer):
    """Writes through the API, after the canaries, that copy classified values of a
    planted customer elsewhere: a survey invitation (its e-mail address, in the
    message log), an escalated complaint (its name, in the notices' subjects), a
    webhook endpoint with an admin's view (its fields, in the delivery log)."""
    gid = to_global_id("Customer", planted_customer)
    endpoint = {"url": "http://127.0.0.1:9/hook", "topics": ["*"], "role": "ADMIN"}
    assert app.data(ENDPOINT, {"i": endpoint}, as_="admin")["createWebhookEndpoint"]["userErrors"] == []
    file_complaint(app, gid, as_="admin", priority="HIGH")
    app.clock.advance(hours=5)  # past the first response: escalated, the responsible told
    assert app.run(complaints_service.check_sla, app.kehu).escalated
    survey = create_survey(app, title="Walk survey")
    invite(app, survey["id"], [gid], as_="admin")  # (the newest message: first in the log)
    assert app.data(TAG, {"i": {"id": gid, "tags": ["walked"]}}, as_="admin")["updateCustomer"]["userErrors"] == []


def test_every_built_in_field_with_classified_data_is_masked_for_an_analyst(make_app):
    app = seeded(make_app, plugins=tuple(BUILTIN_PLUGINS), settings=SETTINGS)
    canaries = app.run(plant_canaries, app.kehu)
    planted = app.run(lambda: Customer.filter(email__not_isnull=True).order_by("id").first())
    _copies_into_every_plugin(app, planted.id)
    # A complaint filed after the canaries: its description is copied into the
    # interaction it logs, one hop away from the complaint's own policy.
    customer = app.run(lambda: Customer.create(name="Walk", owner=app.accounts["agent"]))
    variables = {
        "customerId": to_global_id("Customer", customer.id),
        "category": "delivery",
        "channel": "HOTLINE",
        "description": "zq9999999x copied one hop",
    }
    filed = app.data(FILE, {"i": variables}, as_="agent")["fileComplaint"]
    assert filed["userErrors"] == [], filed
    canaries.columns["zq9999999x"] = "complaints.Complaint.description (filed through the API)"

    # A segment of every customer: its member list must not follow their names.
    members = [to_global_id("Customer", pk) for pk in app.run(lambda: Customer.all().values_list("id", flat=True))]
    segment = {"key": "everyone", "name": "Everyone", "customerIds": members}
    assert app.data(SEGMENT, {"i": segment}, as_="admin")["createSegment"]["userErrors"] == []

    leaks = policy_leaks(app, as_="analyst", planted=canaries)
    assert leaks == [], "\n".join(map(str, leaks[:10]))
    # The walk did reach every kind of classified data: an admin sees it in clear.
    seen_by_admin = policy_leaks(app, as_="admin", planted=canaries)
    shown = {leak.what for leak in seen_by_admin}
    for column in (
        "core.Customer.email",
        "core.Customer.phone",
        "core.Interaction.notes",
        "complaints.Complaint.description",
        "surveys.Answer.text",
    ):
        assert any(column in what for what in shown), (column, sorted(shown)[:20])
    assert any("filed through the API" in what for what in shown)
    # ... and the copies the new plugins keep: the message log, the delivery log.
    for column, root in (
        ("core.Customer.name", "notificationMessages"),
        ("core.Customer.email", "notificationMessages"),
        ("core.Customer.phone", "webhookDeliveries"),
    ):
        assert any(column in leak.what and root in leak.query for leak in seen_by_admin), (column, root)


@strawberry.type
class CustomerContact:
    @strawberry.field(description="A convenience copy of the e-mail address — without a policy.")
    def contact_email(self) -> str | None:
        return self.email


CONTACT = types.SimpleNamespace(kehu_graphql=hookimpl(lambda graphql: graphql.extend("Customer", CustomerContact)))


def test_a_plugin_field_that_shows_a_classified_column_without_its_policy_is_found(make_app):
    app = seeded(make_app, plugins=("masking", "contact"), extra={"contact": CONTACT})
    leaks = policy_leaks(app, as_="analyst")
    assert any("core.Customer.email" in leak.what and "contactEmail" in leak.query for leak in leaks), leaks[:5]


def test_a_list_ordered_by_masked_names_is_found(make_app):
    from kehu.schema import Connection, relay

    @strawberry.type
    class ByName:
        @strawberry.field
        async def customers_by_name(self, info: strawberry.Info) -> Connection["Customer"]:
            from kehu.access import visible_customers

            return await relay.paginate(visible_customers(info.context.viewer).order_by("name"), 20, None)

    oracle = types.SimpleNamespace(kehu_graphql=hookimpl(lambda graphql: graphql.query(ByName)))
    app = seeded(make_app, plugins=("masking", "oracle"), extra={"oracle": oracle})
    leaks = policy_leaks(app, as_="analyst")
    assert any("ordered by their (masked) names" in leak.what and "customersByName" in leak.query for leak in leaks)


def test_canaries_are_found_wherever_they_are_in_an_answer():
    canaries = Canaries(
        columns={"19000000005": "core.Customer.phone", "zq0000001x": "core.Customer.name", "by hand": "x.Y.z"}
    )
    # inside a longer run of digits, overlapping a false start, next to another marker
    assert canaries.found_in('{"a": "1919000000005", "b": "zq0000001xzq0000002x", "c": "written by hand"}') == [
        "core.Customer.name (zq0000001x)",
        "core.Customer.phone (19000000005)",
        "x.Y.z (by hand)",
    ]
    assert canaries.found_in("19190000000 zq000001x zq00000001x") == []
