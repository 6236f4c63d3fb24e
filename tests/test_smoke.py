def test_admin_creates_customer_and_sees_it(app):
    data = app.data(
        'mutation { createCustomer(input: {name: "Li Lei", email: "li@example.com"}) { customer { id name } userErrors { code } } }',
        as_="admin",
    )
    assert data["createCustomer"]["userErrors"] == []
    data = app.data("{ customers { totalCount edges { node { name } } } }", as_="admin")
    assert data["customers"]["totalCount"] == 1
    assert data["customers"]["edges"][0]["node"]["name"] == "Li Lei"
