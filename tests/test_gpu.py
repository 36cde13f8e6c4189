"""The CUDA path (`--device cuda`): tokenizer fit and encode, text embedder, Ray engine. Skipped without CUDA."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from motorec.pipeline.config import PipelineConfig
from motorec.tokenizer import RQVAEConfig, fit

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TINY = RQVAEConfig(levels=2, codebook_size=16, latent_dim=8, hidden_dims=(32,), max_steps=200, seed=0)


def test_tokenizer_fit_and_encode_on_cuda(clustered):
    x, labels = clustered
    tok, stats = fit(x, None, replace(TINY, device="cuda"), progress=False)
    codes = tok.encode(x)
    assert codes.shape == (len(x), TINY.levels)
    assert codes.min() >= 0 and codes.max() < TINY.codebook_size
    assert stats.health.utilisation[0] > 0.5
    # the same weights on the CPU give the same codes for (almost) every item
    cpu_codes = tok.to("cpu").encode(x)
    assert (cpu_codes == codes).all(1).mean() >= 0.99
    # and a tokenizer fitted on the CPU separates the clusters as well as the CUDA one (purity of level 1)
    cpu_tok, _ = fit(x, None, TINY, progress=False)

    def purity(c):
        return sum(np.bincount(labels[c[:, 0] == k]).max() for k in np.unique(c[:, 0])) / len(labels)

    assert abs(purity(codes) - purity(cpu_tok.encode(x))) < 0.1


def test_text_embedder_on_cuda():
    from motorec.pipeline.text import TextEmbedder

    texts = ["a red wool scarf", "noise-cancelling headphones", "a red wool scarf"]
    gpu = TextEmbedder.from_config(PipelineConfig(device="cuda")).embed(texts)
    cpu = TextEmbedder.from_config(PipelineConfig(device="cpu")).embed(texts)
    assert gpu.shape == cpu.shape == (3, cpu.shape[1]) and np.isfinite(gpu).all()
    assert np.allclose(np.linalg.norm(gpu, axis=1), 1, atol=1e-4)
    assert np.allclose(gpu[0], gpu[2], atol=1e-5)
    assert (gpu * cpu).sum(1).min() > 0.999  # same model, same direction up to float noise


def test_ray_engine_on_cuda(tmp_path):
    pytest.importorskip("ray")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from motorec.config import load_config
    from motorec.pipeline.engines.ray_engine import tokenize_ray

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    pq.write_table(pa.table({"item_id": [f"i{k}" for k in range(300)], "title": [f"t{k}" for k in range(300)],
                             "feat_text": pa.array(list(x), pa.list_(pa.float32()))}), tmp_path / "c.parquet")
    tiny = {"levels": 2, "codebook_size": 8, "latent_dim": 8, "hidden_dims": [16], "max_steps": 40, "device": "cuda"}
    cfg = load_config(None, tokenizer=tiny, pipeline={"device": "cuda", "text_template": "{title}"})
    summary = tokenize_ray(tmp_path / "c.parquet", tmp_path / "store", cfg, progress=False)
    assert summary.modalities["text"].encoded == 300 and summary.failed == 0


def test_cli_end_to_end_on_cuda(tmp_path, write_cli_world):
    """tokenize, train, recommend and evaluate with every model on the device, as a user runs them."""
    import pyarrow.parquet as pq
    from typer.testing import CliRunner

    from motorec.cli import app

    write_cli_world(tmp_path, device="cuda")
    store, cfg, split = tmp_path / "store", tmp_path / "motorec.toml", tmp_path / "split"
    runner = CliRunner()
    for args in (
        ["tokenize", tmp_path / "catalog.parquet", "--store", store, "--config", cfg, "--no-progress"],
        ["split", tmp_path / "inter.parquet", "--out", split, "--cold-items", 0.2, "--seed", 1],
        ["train", split / "train.parquet", "--valid", split / "valid.parquet", "--store", store, "--config", cfg,
         "--no-progress"],
        ["recommend", "--user", 1, "--user", 2, "--k", 5, "--store", store, "--config", cfg,
         "--out", tmp_path / "recs.parquet"],
        ["evaluate", split / "test.parquet", "--store", store, "--config", cfg, "--json"],
    ):
        r = runner.invoke(app, [str(a) for a in args])
        assert r.exit_code == 0, (args[0], r.output)
    recs = pq.read_table(tmp_path / "recs.parquet").to_pylist()
    assert [x["rank"] for x in recs if x["user_id"] == 1] == [1, 2, 3, 4, 5]
    seen = {(t["user_id"], t["item_id"]) for t in pq.read_table(split / "train.parquet").to_pylist()}
    assert not any((x["user_id"], x["item_id"]) in seen for x in recs)
