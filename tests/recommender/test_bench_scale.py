"""benchmarks/recommender_scale.py on a tiny graph: its synthetic graph and its table."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "recommender_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("recommender_scale", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_graph_is_distinct_pairs_with_a_long_tail(bench):
    users, items = bench.synthetic_graph(300, 1000, 5000, seed=0)
    assert len(users) == 5000 and users.max() < 300 and items.max() < 1000
    assert len(np.unique(users * 1000 + items)) == 5000  # no repeated pair
    counts = np.sort(np.bincount(items, minlength=1000))[::-1]
    assert counts[:100].sum() > 0.3 * counts.sum()  # the top tenth of items hold far more than a tenth
    assert (counts == 0).any() or counts[-100:].sum() < 0.05 * counts.sum()  # and the tail little


def test_table_has_one_row_per_size(bench, tmp_path):
    out = tmp_path / "scale.md"
    assert bench.main(["--sizes", "40:60:400", "50:80:600", "--epochs", "2", "--batch-size", "128",
                       "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 40:") or line.startswith("| 50:")]
    assert len(rows) == 2
    cells = [c.strip() for c in rows[1].strip("|").split("|")]
    assert cells[1] == "600" and cells[2] == "5"  # interactions, steps of 128
    lightgcn, ours, ratio = float(cells[3]), float(cells[4]), float(cells[5].rstrip("x"))
    assert lightgcn > 0 and ours > 0 and ratio == pytest.approx(ours / lightgcn, rel=0.15)  # cells are rounded
