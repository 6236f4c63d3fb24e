"""Masking on every path, by construction: every column a field policy names is
filled with canaries and the whole composed schema is walked as ANALYST
(kehu.testing.policy_leaks). A canary in any answer is a field that shows a
classified column — or a copy of it — without its policy; a list of customers in
the order of their masked names is an ordering oracle."""

import types

import strawberry

from kehu import hookimpl
from kehu.cli.demo import seed_demo
from kehu.testing import WALK_LIMITS, plant_canaries, policy_leaks

PLUGINS = ("segmentation", "loyalty", "complaints", "surveys", "masking")
SEGMENT = """mutation($i: CreateSegmentInput!) { createSegment(input: $i) { userErrors { code message } } }"""
FILE = """mutation($i: FileComplaintInput!) { fileComplaint(input: $i) { complaint { id } userErrors { code message } } }"""


def seeded(make_app, plugins=PLUGINS, extra=None):
    app = make_app(enabled=plugins, config=WALK_LIMITS, extra_plugins=extra)
    app.run(lambda: seed_demo(app.kehu, customers=40, force=True))  # beside the test accounts
    return app


def test_every_built_in_field_with_classified_data_is_masked_for_an_analyst(make_app):
    app = seeded(make_app)
    canaries = app.run(plant_canaries, app.kehu)
    # A complaint filed after the canaries: its description is copied into the
    # interaction it logs, one hop away from the complaint's own policy.
    from kehu.ids import to_global_id
    from kehu.models import Customer

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
    from kehu.models import Customer as CustomerModel

    members = [to_global_id("Customer", pk) for pk in app.run(lambda: CustomerModel.all().values_list("id", flat=True))]
    segment = {"key": "everyone", "name": "Everyone", "customerIds": members}
    assert app.data(SEGMENT, {"i": segment}, as_="admin")["createSegment"]["userErrors"] == []

    leaks = policy_leaks(app, as_="analyst", planted=canaries)
    assert leaks == [], "\n".join(map(str, leaks[:10]))
    # The walk did reach every kind of classified data: an admin sees it in clear.
    shown = {leak.what for leak in policy_leaks(app, as_="admin", planted=canaries)}
    for column in (
        "core.Customer.email",
        "core.Customer.phone",
        "core.Interaction.notes",
        "complaints.Complaint.description",
        "surveys.Answer.text",
    ):
        assert any(column in what for what in shown), (column, sorted(shown)[:20])
    assert any("filed through the API" in what for what in shown)


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
