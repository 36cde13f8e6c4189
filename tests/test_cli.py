"""The CLI end to end on a tiny synthetic store, and its contract: help everywhere, clean errors."""

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from motorec.cli import app

runner = CliRunner()
COMMANDS = ["tokenize", "train", "recommend", "evaluate", "split", "sql", "report"]

def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output and len(result.output.splitlines()) > 5


@pytest.fixture(scope="module")
def world(tmp_path_factory, write_cli_world):
    """60 items in 4 content clusters (feat_text), 40 users who each like one cluster."""
    root = tmp_path_factory.mktemp("cli")
    write_cli_world(root)
    store = root / "store"
    r = invoke("tokenize", root / "catalog.parquet", "--store", store, "--config", root / "motorec.toml",
               "--no-progress")
    assert r.exit_code == 0, r.output
    assert "60 new" in r.output
    r = invoke("split", root / "inter.parquet", "--out", root / "split", "--cold-items", 0.2, "--seed", 1)
    assert r.exit_code == 0, r.output
    r = invoke("train", root / "split" / "train.parquet", "--valid", root / "split" / "valid.parquet",
               "--store", store, "--config", root / "motorec.toml", "--no-progress")
    assert r.exit_code == 0, r.output
    return root, store


def test_recommend_ranks_cold_items_and_excludes_seen(world):
    root, store = world
    out = root / "recs.parquet"
    r = invoke("recommend", "--user", 1, "--user", 2, "--k", 5, "--store", store, "--out", out)
    assert r.exit_code == 0, r.output
    recs = pq.read_table(out).to_pylist()
    assert [x["rank"] for x in recs if x["user_id"] == 1] == [1, 2, 3, 4, 5]
    train = pq.read_table(root / "split" / "train.parquet").to_pylist()
    seen = {(t["user_id"], t["item_id"]) for t in train}
    assert not any((x["user_id"], x["item_id"]) in seen for x in recs)
    # candidates restricted to the strict-cold items: every recommendation is a cold item
    r = invoke("recommend", "--user", 1, "--k", 3, "--candidates", root / "split" / "cold_items.parquet",
               "--store", store, "--out", out)
    assert r.exit_code == 0, r.output
    cold = set(pq.read_table(root / "split" / "cold_items.parquet").column("item_id").to_pylist())
    assert {x["item_id"] for x in pq.read_table(out).to_pylist()} <= cold


def test_evaluate_writes_buckets_and_json(world):
    root, store = world
    r = invoke("evaluate", root / "split" / "test.parquet", "--store", store, "--k", "5,10", "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    settings = {x["setting"] for x in rows}
    assert "all" in settings and "cold" in settings
    assert {x["k"] for x in rows} == {5, 10}
    assert all(0.0 <= x["value"] <= 1.0 for x in rows)


def test_sql_and_report(world, tmp_path):
    root, store = world
    r = invoke("sql", "SELECT count(*) AS n FROM current_codes", "--store", store, "--format", "csv")
    assert r.exit_code == 0, r.output
    assert r.output.split() == ["n", "60"]
    r = invoke("sql", "--query", "dead_codes", "--store", store)
    assert r.exit_code == 0, r.output
    r = invoke("sql", "DROP TABLE t_items", "--store", store)
    assert r.exit_code == 1 and r.output.startswith("Error:") and "read-only" in r.output
    r = invoke("report", "--store", store, "--out", tmp_path / "report.html")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64") >= 3


def test_clean_errors(world, tmp_path):
    root, store = world
    r = invoke("train", tmp_path / "missing.parquet", "--store", store)
    assert r.exit_code == 1 and "Error:" in r.output and "Traceback" not in r.output
    r = invoke("recommend", "--user", 99999, "--store", store, "--out", tmp_path / "x.parquet")
    assert r.exit_code == 1 and "unknown user_id" in r.output
    r = invoke("evaluate", root / "split" / "test.parquet", "--store", tmp_path / "empty-store")
    assert r.exit_code == 1 and "Error:" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[tokenizer]\ncodebok_size = 4\n")
    r = invoke("tokenize", root / "catalog.parquet", "--store", tmp_path / "s2", "--config", bad)
    assert r.exit_code == 1 and "codebok_size" in r.output


def test_split_evaluation_ranks_warm_settings_among_warm_items(world, tmp_path):
    # warm and long_tail rank the items with training interactions (as evaluate.protocol does): pushing every
    # cold item to the top of a scorer must leave them unchanged, and must change "all"
    import torch

    from motorec.recommender.service import evaluate_split

    root, store = world
    split = tmp_path / "split"
    shutil.copytree(root / "split", split)
    cold = pq.read_table(split / "cold_items.parquet").column("item_id")
    # this small world's users hold too few interactions for a warm test share: give each two unseen warm items
    train = pq.read_table(split / "train.parquet").to_pylist()
    seen = {(t["user_id"], t["item_id"]) for t in train}
    warm_items = sorted({t["item_id"] for t in train})
    pairs = [(u, i) for u in sorted({t["user_id"] for t in train}) for i in warm_items if (u, i) not in seen]
    pairs = [p for k, p in enumerate(pairs) if k % 7 == 0]
    pq.write_table(pa.table({"user_id": pa.array([p[0] for p in pairs], pa.int64()),
                             "item_id": pa.array([p[1] for p in pairs], pa.int64())}), split / "warm_test.parquet")

    def scorer(boost):
        def make(ckpt, items):
            pop = torch.as_tensor(np.bincount(ckpt.train[1], minlength=len(items)), dtype=torch.float32)
            is_cold = torch.as_tensor(np.isin(items.ids.to_numpy(), cold.to_numpy()), dtype=torch.float32)
            return lambda users: (pop + boost * is_cold).expand(len(users), -1)

        return make

    table = evaluate_split(split, store, baselines=(), record=False,
                           extra_scorers={"plain": scorer(0.0), "cold_first": scorer(1e6)})
    value = {(r["model"], r["setting"], r["metric"], r["k"]): r["value"] for r in table.to_pylist()}
    assert np.isfinite(value[("plain", "warm", "recall", 20)])
    for setting in ("warm", "long_tail"):  # long_tail may be empty (NaN) on this small world; NaN == NaN here
        for metric in ("recall", "ndcg"):
            np.testing.assert_equal(value[("cold_first", setting, metric, 20)], value[("plain", setting, metric, 20)])
    assert value[("cold_first", "all", "recall", 20)] != value[("plain", "all", "recall", 20)]
