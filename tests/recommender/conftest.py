import numpy as np
import pyarrow as pa
import pytest
import torch

from motorec.recommender import ModalityInputs, index_split, strict_cold_split


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny tensors: thread hand-offs cost more than they save, and badly so on a shared machine
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def planted(n_users=60, n_items=100, n_genres=4, per_user=10, seed=0):
    """Users like one genre; an item's content (codes, z_q, features) reveals its genre.

    Returns the interactions table and, per item_id order, codes (N, 2), z_q (N, 4), feats (N, 8), genre.
    """
    rng = np.random.default_rng(seed)
    genre = np.arange(n_items) % n_genres
    rng.shuffle(genre)
    taste = rng.integers(0, n_genres, n_users)
    users, items = [], []
    for u in range(n_users):
        liked = np.flatnonzero(genre == taste[u])
        pick = rng.choice(liked, size=min(per_user, len(liked)), replace=False)
        noise = rng.choice(n_items, size=1)
        for i in np.concatenate([pick, noise]):
            users.append(u)
            items.append(int(i))
    inter = pa.table({"user_id": pa.array(users, pa.int64()) + 1000, "item_id": pa.array(items, pa.int64()) + 1})
    codes = np.stack([genre, rng.integers(0, n_genres, n_items)], 1).astype(np.int64)
    z_q = np.eye(n_genres, dtype=np.float32)[genre] + 0.05 * rng.normal(size=(n_items, n_genres)).astype(np.float32)
    feats = np.concatenate([np.eye(n_genres)[genre], 0.1 * rng.normal(size=(n_items, 4))], 1).astype(np.float32)
    return inter, codes, z_q, feats, genre


@pytest.fixture(scope="session")
def planted_task():
    inter, codes, z_q, feats, genre = planted()
    item_ids = pa.array(np.arange(1, len(genre) + 1), pa.int64())
    split = strict_cold_split(inter, cold_fraction=0.2, seed=0)
    data = index_split(split, item_ids)
    content = {"text": ModalityInputs.from_numpy(codes=codes, z_q=z_q, feats=feats, codebook_size=4)}
    return {
        "split": split,
        "data": data,
        "content": content,
        "codes": codes,
        "z_q": z_q,
        "feats": feats,
        "genre": genre,
        "item_ids": item_ids,
    }
