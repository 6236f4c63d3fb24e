import subprocess
import sys


def test_admin_creates_customer_and_sees_it(app):
    data = app.data(
        'mutation { createCustomer(input: {name: "Li Lei", email: "li@example.com"}) { customer { id name } userErrors { code } } }',
        as_="admin",
    )
    assert data["createCustomer"]["userErrors"] == []
    data = app.data("{ customers { totalCount edges { node { name } } } }", as_="admin")
    assert data["customers"]["totalCount"] == 1
    assert data["customers"]["edges"][0]["node"]["name"] == "Li Lei"


def test_a_server_process_freezes_its_start_up_heap_and_spaces_collections():
    # In a process of its own: tune_gc acts once per process.
    code = (
        "import gc\n"
        "from kehu.server.app import FULL_COLLECTION_EVERY, YOUNG_COLLECTION_AFTER, tune_gc\n"
        "_, middle, _ = gc.get_threshold()\n"
        "tune_gc(); tune_gc()\n"
        "print(gc.get_freeze_count(),"
        " gc.get_threshold() == (YOUNG_COLLECTION_AFTER, middle, FULL_COLLECTION_EVERY))\n"
    )
    frozen, thresholds = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(frozen) > 10_000  # modules, the schema's building blocks
    assert thresholds == "True"
