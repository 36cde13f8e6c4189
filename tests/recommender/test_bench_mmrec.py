"""The benchmark's --mmrec path on a tiny synthetic MMRec folder (two modalities)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from motorec.datasets.mmrec import make_synthetic_mmrec

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "ml100k_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ml100k_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["ml100k_bench"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run(bench, tmp_path, models):
    folder = make_synthetic_mmrec(tmp_path / "toy", n_users=120, n_items=80, dim=8, seed=0)
    out = tmp_path / "out.md"
    assert (
        bench.main(["--mmrec", str(folder), "--seeds", "0", "--epochs", "2", "--out", str(out), "--models", *models])
        == 0
    )
    return out.read_text()


def test_mmrec_path_writes_the_table(bench, tmp_path):
    text = run(bench, tmp_path, ["popularity", "content-knn", "lightgcn", "ours-continuous", "ours-rqkmeans"])
    assert "# Strict-cold benchmark: MMRec:toy" in text
    for model in ("popularity", "content-knn", "lightgcn", "ours-continuous", "ours-rqkmeans"):
        for setting in ("warm", "long_tail", "strict_cold", "all"):
            assert f"| {model} | {setting} |" in text
    assert "modalities ['image', 'text']" in text


@pytest.mark.slow
def test_mmrec_path_with_peers_and_rqvae(bench, tmp_path):
    pytest.importorskip("cornac")
    text = run(bench, tmp_path, ["lightgcn", "bpr", "vbpr", "ours"])
    assert "| vbpr | strict_cold |" in text and "| ours | all |" in text
    assert "## Targets (issue 4)" in text and "train time/epoch" in text


def test_timing_only_saves_the_paired_timing_for_merge(bench, tmp_path):
    folder = make_synthetic_mmrec(tmp_path / "toy", n_users=120, n_items=80, dim=8, seed=0)
    records = tmp_path / "timing.json"
    out = tmp_path / "never.md"
    argv = ["--mmrec", str(folder), "--seeds", "0", "--timing-only", "--save-records", str(records)]
    assert bench.main([*argv, "--out", str(out)]) == 0
    saved = json.loads(records.read_text())
    assert saved["records"] == [] and not out.exists()
    assert set(saved["timing"]) == {"ours", "lightgcn"} and all(v > 0 for v in saved["timing"].values())
    with pytest.raises(SystemExit):
        bench.main(["--mmrec", str(folder), "--timing-only"])  # nowhere to keep the result
