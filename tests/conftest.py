from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture
def clustered():
    """2,000 points around 40 well-separated centres in 24 dims, and their centre labels."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(40, 24)) * 3.0
    labels = rng.integers(0, 40, 2000)
    x = centres[labels] + 0.2 * rng.normal(size=(2000, 24))
    return x.astype(np.float32), labels


def _write_cli_world(root: Path, device: str | None = None) -> None:
    """catalog.parquet (60 items in 4 content clusters, feat_text), inter.parquet (40 users who each like one
    cluster, 8 items each) and motorec.toml under root; `device` puts the tokenizer, pipeline and recommender
    on it."""
    rng = np.random.default_rng(0)
    n_items, n_users, dim = 60, 40, 16
    cluster = np.arange(n_items) % 4
    centres = rng.normal(size=(4, dim)) * 3
    feats = (centres[cluster] + 0.3 * rng.normal(size=(n_items, dim))).astype(np.float32)
    catalog = pa.table({
        "item_id": pa.array(np.arange(1, n_items + 1), pa.int64()),
        "title": [f"item {i}" for i in range(1, n_items + 1)],
        "feat_text": pa.array(feats.tolist(), pa.list_(pa.float32())),
    })
    rows = []
    for u in range(1, n_users + 1):
        liked = np.flatnonzero(cluster == u % 4)
        for i in rng.choice(liked, 8, replace=False):
            rows.append((u, int(i) + 1))
    inter = pa.table({"user_id": pa.array([r[0] for r in rows], pa.int64()),
                      "item_id": pa.array([r[1] for r in rows], pa.int64())})
    pq.write_table(catalog, root / "catalog.parquet")
    pq.write_table(inter, root / "inter.parquet")
    on = f'device = "{device}"\n' if device else ""  # the same line in every section
    config = (
        f"[tokenizer]\n{on}levels = 2\ncodebook_size = 4\nlatent_dim = 8\nhidden_dims = [16]\nmax_steps = 60\n\n"
        f"[pipeline]\n{on}\n"
        f"[recommender]\n{on}embedding_dim = 8\nepochs = 3\neval_every = 1\nbatch_size = 256\n"
    )
    (root / "motorec.toml").write_text(config)


@pytest.fixture(scope="session")
def write_cli_world():
    """The writer of the small CLI world (`_write_cli_world`), shared by the CPU and CUDA CLI tests."""
    return _write_cli_world
