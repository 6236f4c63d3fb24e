"""The cost-curve benchmark end to end at a tiny size, SQLite only: every path is
measured and the outputs have their shape (the timings themselves are not checked)."""

import json
import xml.etree.ElementTree as ET

import pytest

from benchmarks import cost_curves

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def _no_executors_left_behind():
    """The benchmark recomputes and imports in this process. Tortoise caches each
    model's executor (its INSERT, with SQLite's ``?`` placeholders) by connection
    name, not by dialect: left in the cache, it would be handed to the next test
    in this worker that runs on PostgreSQL."""
    from tortoise.backends.base.executor import EXECUTOR_CACHE

    yield
    EXECUTOR_CACHE.clear()


def _check_outputs(out, sizes):
    document = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [c.split(" --")[0] for c in document["commands"]] == ["python -m benchmarks.cost_curves"]
    by_size = document["results"]["sqlite"]
    assert sorted(by_size) == sorted(str(n) for n in sizes)
    for result in by_size.values():
        assert set(result["paths"]) == set(cost_curves.PATHS)
        for path, (unit, _) in cost_curves.PATHS.items():
            measured = result["paths"][path]
            assert measured["p50"] > 0, path
            if unit == "ms":
                assert measured["runs"] >= 2 and measured["p95"] >= measured["p50"], path
    tables = (out / "tables.md").read_text(encoding="utf-8")
    for path in cost_curves.PATHS:
        assert f"### {path}\n" in tables
    for n in sizes:
        assert f"| {n:,} |" in tables
    root = ET.parse(out / "cost_sqlite.svg").getroot()  # well-formed XML
    assert root.tag == f"{SVG}svg"
    lines = root.findall(f"{SVG}polyline")
    assert [line.get("data-path") for line in lines] == list(cost_curves.PATHS)
    for line in lines:
        assert len(line.get("points").split()) == len(sizes)
    assert not (out / "cost_postgres.svg").exists()
    return document


def test_cost_curves_measure_every_path_at_a_tiny_size(tmp_path):
    out = tmp_path / "out"
    args = ["--sizes", "200", "--sqlite-only", "--out", str(out), "--data", str(tmp_path / "data")]
    assert cost_curves.main([*args, "--runs", "2", "--import-rows", "50"]) == 0
    _check_outputs(out, [200])


def test_growth_per_tenfold_and_the_paths_that_grow_faster_than_their_data(tmp_path):
    def result(scale):  # every path costs ``scale`` ms, W1's first page 10× more at 10× the size
        paths = {p: {"p50": scale, "p95": scale * 1.5, "runs": 3} for p in cost_curves.PATHS}
        paths["W1 first page"] = {"p50": scale * scale, "p95": scale * scale, "runs": 3}
        return {"paths": paths}

    document = {
        "commands": ["python -m benchmarks.cost_curves --sizes 1000,10000 --sqlite-only"],
        "import_rows": 100,
        "results": {"sqlite": {"1000": result(1.0), "10000": result(10.0)}},
    }
    out = tmp_path / "out"
    cost_curves.write(out, document)
    _check_outputs(out, [1000, 10000])
    found = {(db, path) for db, path, _ in cost_curves.faster_than_data(document["results"])}
    # ×10 per 10×: too fast for a page, fine for a recompute; ×100 too fast for anything
    assert ("sqlite", "W1 first page") in found and ("sqlite", "W2 { me }") in found
    assert ("sqlite", "recompute (next run)") not in found
    assert "×100.00 **(faster than its data)**" in (out / "tables.md").read_text(encoding="utf-8")
