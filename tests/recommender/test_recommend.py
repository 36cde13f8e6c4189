import numpy as np
import pyarrow as pa
import pytest
import torch

from motorec.errors import InputError
from motorec.recommender import IdIndex, ModalityInputs, RecommenderConfig, Scorer, fit, recommend

SCORES = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
USERS = IdIndex(pa.array(["ann", "bob"]), "user")
ITEMS = IdIndex(pa.array([10, 20, 30, 40, 50]), "item")
SEEN = (np.array([0, 1]), np.array([0, 4]))


def score(rows):
    return SCORES[torch.as_tensor(rows)]


def test_excludes_seen_items_and_ranks_one_to_k():
    out = recommend(score, USERS, ITEMS, ["ann", "bob"], k=3, seen=SEEN)
    assert out.column_names == ["user_id", "item_id", "rank", "score"]
    rows = out.to_pylist()
    assert [(r["user_id"], r["item_id"], r["rank"]) for r in rows] == [
        ("ann", 20, 1),
        ("ann", 30, 2),
        ("ann", 40, 3),
        ("bob", 40, 1),
        ("bob", 30, 2),
        ("bob", 20, 3),
    ]
    assert [r["score"] for r in rows[:3]] == [4.0, 3.0, 2.0]


def test_include_seen_and_candidates():
    out = recommend(score, USERS, ITEMS, ["ann"], k=5, seen=SEEN, exclude_seen=False)
    assert out.column("item_id").to_pylist() == [10, 20, 30, 40, 50]
    out = recommend(score, USERS, ITEMS, ["ann", "bob"], k=5, seen=SEEN, candidates=[50, 30, 10])
    # ann saw 10, bob saw 50: fewer than k rows come back, never an excluded or non-candidate item
    assert out.filter(pa.compute.equal(out.column("user_id"), "ann")).column("item_id").to_pylist() == [30, 50]
    assert out.filter(pa.compute.equal(out.column("user_id"), "bob")).column("item_id").to_pylist() == [30, 10]
    assert out.column("rank").to_pylist() == [1, 2, 1, 2]


def test_chunking_gives_the_same_table():
    a = recommend(score, USERS, ITEMS, ["bob", "ann"], k=2, seen=SEEN, chunk_size=1)
    b = recommend(score, USERS, ITEMS, ["bob", "ann"], k=2, seen=SEEN, chunk_size=64)
    assert a.equals(b)
    assert a.column("user_id").to_pylist() == ["bob", "bob", "ann", "ann"]


def test_unknown_ids_are_input_errors():
    with pytest.raises(InputError, match="carl"):
        recommend(score, USERS, ITEMS, ["carl"])
    with pytest.raises(InputError, match="99"):
        recommend(score, USERS, ITEMS, ["ann"], candidates=[99])
    with pytest.raises(InputError):
        recommend(score, USERS, ITEMS, ["ann"], k=0)


def test_model_scorer_ranks_cold_and_new_items(planted_task):
    data = planted_task["data"]
    cfg = RecommenderConfig(embedding_dim=8, batch_size=128, epochs=3, cl_samples=32)
    res = fit(data.train, len(data.users), len(data.items), planted_task["content"], cfg, progress=False)
    base = res.scorer()
    # two brand-new items with the content of a cold item: no ID, same score as that cold item
    cold = int(data.cold_items[0])
    extra = {m: c.rows(torch.tensor([cold, cold])) for m, c in planted_task["content"].items()}
    grown = Scorer.from_model(res.model, res.adj, res.content, res.item_has_id, extra_content=extra)
    s = grown.score(np.arange(3))
    assert s.shape == (3, len(data.items) + 2)
    torch.testing.assert_close(s[:, -1], base.score(np.arange(3))[:, cold])
    items = IdIndex(pa.concat_arrays([data.items.ids, pa.array([1001, 1002], pa.int64())]), "item")
    out = recommend(grown.score, data.users, items, data.users.ids.slice(0, 4), k=len(items), seen=data.train)
    assert {1001, 1002} <= set(out.column("item_id").to_pylist())
    seen = set(zip(data.users.take(data.train[0]).to_pylist(), data.items.take(data.train[1]).to_pylist(), strict=True))
    assert not seen & set(zip(out.column("user_id").to_pylist(), out.column("item_id").to_pylist(), strict=True))


def test_modality_inputs_need_content():
    with pytest.raises(InputError):
        ModalityInputs.from_numpy()
