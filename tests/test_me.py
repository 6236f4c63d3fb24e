"""What `me` tells a frontend about the signed-in viewer — what their role may do,
what they see masked, the language they read in — and setMyLanguage."""

from kehu.access import CORE_PERMISSIONS

ME = "{ me { role permissions maskedFields language } }"
SET = "mutation($l: Language) { setMyLanguage(input: {language: $l}) { me { language } userErrors { field code } } }"


def test_permissions_are_those_of_the_viewers_role(make_app):
    app = make_app(enabled=("complaints",))
    admin = app.data(ME, as_="admin")["me"]
    assert set(admin["permissions"]) >= {p.name for p in CORE_PERMISSIONS} | {"complaints.handle"}
    agent = app.data(ME, as_="agent")["me"]["permissions"]
    assert "interactions.log" in agent and "complaints.handle" in agent
    assert "customers.archive" not in agent and "owners.manage" not in agent
    assert app.data(ME, as_="analyst")["me"]["permissions"] == ["customers.export"]


def test_permissions_follow_grants_in_plugins_toml(make_app):
    app = make_app(enabled=("complaints",), config={"roles": {"AGENT": ["complaints.assign"]}})
    assert "complaints.assign" in app.data(ME, as_="agent")["me"]["permissions"]


def test_without_masking_nothing_is_masked(app):
    assert app.data(ME, as_="analyst")["me"]["maskedFields"] == []


def test_masked_fields_name_what_the_role_sees_masked(make_app):
    masked = make_app(enabled=("masking",))
    assert "Customer.name" in masked.data(ME, as_="analyst")["me"]["maskedFields"]
    assert masked.data(ME, as_="admin")["me"]["maskedFields"] == []


def test_each_role_chooses_its_own_language_and_can_go_back_to_the_browsers(app):
    assert app.data(ME, as_="analyst")["me"]["language"] is None
    body = app.data(SET, {"l": "ZH_CN"}, as_="analyst")["setMyLanguage"]  # read-only roles too
    assert body == {"me": {"language": "ZH_CN"}, "userErrors": []}
    assert app.data(ME, as_="analyst")["me"]["language"] == "ZH_CN"
    assert app.data(ME, as_="agent")["me"]["language"] is None, "per user"
    assert app.data(SET, {"l": None}, as_="analyst")["setMyLanguage"]["me"] == {"language": None}
    assert app.data(ME, as_="analyst")["me"]["language"] is None


def test_an_unknown_language_is_refused_and_changes_nothing(app):
    body = app.post(SET, {"l": "FR"}, as_="agent").json()
    assert body["errors"] and not body.get("data")
    assert app.data(ME, as_="agent")["me"]["language"] is None
