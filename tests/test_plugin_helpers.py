"""The helpers kehu gives plugin authors once, so that no plugin writes its own:
Node types derived from a model, global-ID lists, digests, percentages, typed
settings. The built-in plugins use exactly these."""

import types
from decimal import Decimal

import pytest
import strawberry

from kehu import hookimpl
from kehu.errors import PluginError
from kehu.figures import percent, ratio, round_half_up
from kehu.ids import BadRequest, digest, pks_from_global_ids, to_global_id
from kehu.schema import ModelNode, Node, global_id_field


class BadgeRow:
    """Stands for a plugin's model: what its resolvers return."""

    def __init__(self, id: int, manager_id: int | None = None):
        self.id, self.email, self.manager_id = id, f"badge{id}@example.com", manager_id


@strawberry.type(name="StaffBadge")
class Badge(ModelNode, model=BadgeRow):
    email: str
    manager_id = global_id_field("AccountOwner", "manager_id", optional=True)


@strawberry.type
class BadgeQuery:
    @strawberry.field
    def badges(self) -> list[Badge]:
        return [BadgeRow(1), BadgeRow(2, manager_id=1), BadgeRow(3, manager_id=1)]


async def resolve_badge(info, pk):
    return BadgeRow(pk) if pk < 10 else None


def _badges(graphql):
    graphql.query(BadgeQuery)
    graphql.types(Badge)
    graphql.node("StaffBadge", resolve_badge)


BADGES = types.SimpleNamespace(kehu_graphql=hookimpl(_badges))


def test_a_model_node_gets_its_global_id_and_type_check_from_the_model(make_app):
    app = make_app(enabled=("badges",), extra_plugins={"badges": BADGES})
    badges = app.data("{ badges { id email managerId } }", as_="admin")["badges"]
    assert [b["id"] for b in badges] == [to_global_id("StaffBadge", pk) for pk in (1, 2, 3)]
    assert [b["managerId"] for b in badges] == [None, to_global_id("AccountOwner", 1), to_global_id("AccountOwner", 1)]
    node = app.data("query($id: ID!) { node(id: $id) { __typename id } }", {"id": badges[1]["id"]}, as_="admin")
    assert node["node"] == {"__typename": "StaffBadge", "id": badges[1]["id"]}


@strawberry.type
class Careless(Node):
    label: str = "x"


def _careless(graphql):
    graphql.types(Careless)


def test_a_node_type_without_is_type_of_stops_start_up_with_one_line(make_app):
    careless = types.SimpleNamespace(kehu_graphql=hookimpl(_careless))
    with pytest.raises(PluginError, match="GraphQL type Careless .* implements Node without is_type_of: derive it"):
        make_app(enabled=("careless",), extra_plugins={"careless": careless})


def test_a_model_node_must_name_its_model():
    with pytest.raises(TypeError, match="name its model"):

        class Orphan(ModelNode):
            pass


def test_global_id_lists_become_pks_of_the_named_type():
    ids = [to_global_id("Customer", 7), to_global_id("Customer", 3)]
    assert pks_from_global_ids(ids, "Customer", "customerIds") == [7, 3]
    assert pks_from_global_ids(None, "Customer") is None
    with pytest.raises(BadRequest) as caught:
        pks_from_global_ids([*ids, to_global_id("AccountOwner", 1)], "Customer", "customerIds")
    assert (caught.value.code, caught.value.field) == ("INVALID_ID", "customerIds")


def test_digest_is_the_sha256_of_the_text():
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert digest("客户") == "ad4af312dbc2f59366cedb1dc7880615a7606efefec9a865335a5080af99ece7"  # of the UTF-8 bytes


def test_percentages_round_half_up_to_one_place():
    assert percent(1, 8) == 12.5
    assert percent(1, 3) == 33.3
    assert percent(2, 3) == 66.7
    assert percent(1, 16) == 6.3  # 6.25: half up, not to even
    assert percent(-1, 16) == -6.3  # halves round away from zero
    assert percent(5, 0) is None
    assert ratio(1, 16) == Decimal("0.0625")
    assert ratio(1, 32) == Decimal("0.0313")
    assert ratio(1, 0) is None
    assert round_half_up(Decimal("2.345"), 2) == Decimal("2.35")


def test_a_plugin_reads_its_own_settings_typed():
    from kehu import Kehu
    from kehu.config import parse_config
    from kehu.plugins.loyalty.settings import LoyaltySettings
    from kehu.plugins.surveys.settings import SurveySettings

    kehu = Kehu(parse_config({"plugins": {"enabled": ["loyalty"], "loyalty": {"points_per_unit": "2"}}}))
    settings = kehu.settings_for("loyalty", LoyaltySettings)
    assert isinstance(settings, LoyaltySettings)
    assert settings.points_per_unit == Decimal(2)
    assert kehu.settings_for("surveys") is None
    with pytest.raises(PluginError, match="plugin 'surveys' has no settings: is it enabled"):
        kehu.settings_for("surveys", SurveySettings)
    with pytest.raises(PluginError, match="are a LoyaltySettings, not a SurveySettings"):
        kehu.settings_for("loyalty", SurveySettings)
