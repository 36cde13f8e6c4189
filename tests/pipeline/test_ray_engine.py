"""`--engine ray` against the local engine: same codes, suffixes and sids; incremental runs; install hint."""

from __future__ import annotations

import sys

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from motorec.config import load_config
from motorec.errors import ConfigError, InputError
from motorec.pipeline.job import tokenize

CODES = "SELECT item_id, modality, version, codes, suffix, sid FROM t_item_codes ORDER BY ALL"
TINY = {"levels": 2, "codebook_size": 8, "latent_dim": 8, "hidden_dims": [16], "max_steps": 40, "epochs": 2,
        "kmeans_iters": 5}


def _catalog(path, n, seed=0, start=0):
    """n items around 6 centres (so that some share a code tuple and get suffixes), 16-d feat_text."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).normal(size=(6, 16)) * 3
    x = (centres[rng.integers(0, 6, n)] + 0.3 * rng.normal(size=(n, 16))).astype(np.float32)
    ids = [f"item{k:04d}" for k in range(start, start + n)]
    table = pa.table({"item_id": ids, "title": [f"title {k}" for k in range(start, start + n)],
                      "feat_text": pa.array(list(x), pa.list_(pa.float32()))})
    pq.write_table(table, path, row_group_size=64)
    return table


def _rows(store):
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        return con.execute(CODES).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def cfg():
    return load_config(None, tokenizer=TINY, pipeline={"text_template": "{title}"})


def test_ray_matches_local_and_runs_incrementally(tmp_path, ray_local, cfg):
    from motorec.pipeline.engines.ray_engine import tokenize_ray

    v1 = _catalog(tmp_path / "v1.parquet", 200)
    extra = _catalog(tmp_path / "extra.parquet", 20, seed=1, start=200)
    pq.write_table(pa.concat_tables([v1, extra]), tmp_path / "v2.parquet")

    local = tokenize(tmp_path / "v1.parquet", tmp_path / "local", cfg, progress=False)
    ray_run = tokenize_ray(tmp_path / "v1.parquet", tmp_path / "ray", cfg, progress=False)
    assert (ray_run.seen, ray_run.new, ray_run.failed) == (200, 200, 0)
    assert ray_run.modalities["text"].version == local.modalities["text"].version
    assert ray_run.modalities["text"].health == local.modalities["text"].health
    first = _rows(tmp_path / "local")
    assert len(first) == 200 and any(r[4] > 0 for r in first)  # suffixes are exercised
    assert _rows(tmp_path / "ray") == first
    assert pq.read_table(tmp_path / "ray" / "current_codes.parquet").equals(
        pq.read_table(tmp_path / "local" / "current_codes.parquet"))
    assert not (tmp_path / "ray" / "staging").exists()

    # incremental: a ray run on the store the local engine filled encodes only the 20 new items ...
    inc = tokenize_ray(tmp_path / "v2.parquet", tmp_path / "local", cfg, progress=False)
    assert (inc.new, inc.unchanged, inc.modalities["text"].encoded) == (20, 200, 20)
    assert not inc.modalities["text"].created
    after = _rows(tmp_path / "local")
    assert [r for r in after if r[0] < "item0200"] == first
    # ... and gives them what the local engine gives them on the store the ray engine filled
    loc = tokenize(tmp_path / "v2.parquet", tmp_path / "ray", cfg, progress=False)
    assert loc.modalities["text"].encoded == 20
    assert _rows(tmp_path / "ray") == after


def test_catalog_parts_directory_and_glob(tmp_path):
    from motorec.pipeline.engines.ray_engine import catalog_paths, validate_parts

    parts = tmp_path / "parts"
    parts.mkdir()
    _catalog(parts / "a.parquet", 30)
    _catalog(parts / "b.parquet", 30, seed=1, start=30)
    assert [p.name for p in catalog_paths(parts)] == ["a.parquet", "b.parquet"]
    assert [p.name for p in catalog_paths(str(parts / "*.parquet"))] == ["a.parquet", "b.parquet"]
    assert validate_parts(catalog_paths(parts), 4096).num_rows == 60
    with pytest.raises(InputError, match="no Parquet files"):
        catalog_paths(str(tmp_path / "nothing*.parquet"))


def test_missing_ray_says_how_to_install(tmp_path, monkeypatch):
    from motorec.pipeline.engines import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(ConfigError, match=r'pip install "motorec\[ray\]"'):
        ray_engine.tokenize_ray(tmp_path / "c.parquet", tmp_path / "store", progress=False)
    assert not (tmp_path / "store").exists()
