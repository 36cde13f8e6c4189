"""`motorec tokenize` through the CLI: a summary on success, `Error: ...` and exit code 1 on bad input."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from motorec.cli import app
from motorec.pipeline.lock import StoreLock

pytestmark = pytest.mark.filterwarnings("ignore:codebook_size K=:UserWarning")

N = 24
CONFIG = """
[tokenizer]
method = "rqkmeans"
codebook_size = 4
levels = 2
"""


def _catalog(path: Path, n: int = N, **replace) -> Path:
    vectors = np.random.default_rng(0).normal(size=(n, 8)).astype(np.float32)
    cols = {"item_id": [f"i{i}" for i in range(n)], "title": [f"title {i}" for i in range(n)],
            "feat_text": pa.array(vectors.tolist(), pa.list_(pa.float32()))}
    pq.write_table(pa.table({**cols, **replace}), path)
    return path


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """(folder, store, config, first run's result) after one successful CLI run."""
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "motorec.toml"
    config.write_text(CONFIG)
    catalog = _catalog(folder / "catalog.parquet")
    result = CliRunner().invoke(app, ["tokenize", str(catalog), "--store", str(folder / "store"), "--config",
                                      str(config), "--no-progress"])
    return folder, folder / "store", config, result


def _invoke(*args: str):
    return CliRunner().invoke(app, ["tokenize", *map(str, args)])


def test_first_run_prints_a_summary(done):
    _, store, _, result = done
    assert result.exit_code == 0, result.output
    assert f"{N} items seen, {N} new, 0 changed" in result.output
    assert "text: new version" in result.output
    assert (store / "current_codes.parquet").exists()


def test_rerun_says_zero_new_zero_changed(done, tmp_path):
    folder, store, config, _ = done
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    result = _invoke(folder / "catalog.parquet", "--store", copy, "--config", config, "--no-progress")
    assert result.exit_code == 0, result.output
    assert "0 new, 0 changed" in result.output and f"{N} unchanged" in result.output


def test_store_from_environment(done, tmp_path, monkeypatch):
    folder, _, config, _ = done
    monkeypatch.setenv("MOTOREC_STORE", str(tmp_path / "env-store"))
    result = _invoke(folder / "catalog.parquet", "--config", config, "--no-progress")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env-store" / "motorec.duckdb").exists()


def _bad_catalog(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (catalog, fragment of the error)."""
    (folder / "not.parquet").write_text("item_id\n1\n")
    return {
        "missing-item-id": (_no_id(folder), "item_id"),
        "duplicate-ids": (_catalog(folder / "b.parquet", item_id=["i0"] * N), "duplicate"),
        "nan-vector": (_catalog(folder / "c.parquet", feat_text=pa.array(
            [[float("nan")] * 8] + [[0.5] * 8] * (N - 1), pa.list_(pa.float32()))), "NaN"),
        "not-parquet": (folder / "not.parquet", "Parquet"),
        "missing-file": (folder / "absent.parquet", "not found"),
    }


def _no_id(folder: Path) -> Path:
    pq.write_table(pa.table({"id": ["a", "b"], "title": ["x", "y"]}), folder / "a.parquet")
    return folder / "a.parquet"


@pytest.mark.parametrize("case", ["missing-item-id", "duplicate-ids", "nan-vector", "not-parquet", "missing-file"])
def test_bad_catalog_is_one_error_line(done, tmp_path, case):
    _, store, config, _ = done
    catalog, fragment = _bad_catalog(tmp_path)[case]
    before = _snapshot(store)
    result = _invoke(catalog, "--store", store, "--config", config, "--no-progress")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert fragment in lines[0] and catalog.name in lines[0]
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert _snapshot(store) == before


@pytest.mark.parametrize(("text", "fragment"), [
    ("[tokenizer\nlevels = 2\n", "TOML"),
    ("[tokenizer]\nlevles = 2\n", "levles"),
])
def test_bad_config_is_one_error_line(done, tmp_path, text, fragment):
    folder, store, _, _ = done
    (tmp_path / "motorec.toml").write_text(text)
    result = _invoke(folder / "catalog.parquet", "--store", tmp_path / "new-store", "--config",
                     tmp_path / "motorec.toml", "--no-progress")
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.output
    assert "motorec.toml" in lines[0]
    assert not (tmp_path / "new-store").exists()


def test_locked_store_is_one_error_line(done, tmp_path):
    folder, store, config, _ = done
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    with StoreLock(copy / "lock"):
        result = _invoke(folder / "catalog.parquet", "--store", copy, "--config", config, "--no-progress")
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: ") and "in use by another motorec run" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help():
    result = CliRunner().invoke(app, ["tokenize", "--help"])
    assert result.exit_code == 0 and "--retrain" in result.output and "--store" in result.output
