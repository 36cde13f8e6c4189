import numpy as np
import pyarrow as pa
import pytest
import torch

from motorec.errors import InputError
from motorec.recommender import IdIndex, ModalityInputs, RecommenderConfig, Scorer, fit, recommend
from motorec.recommender.recommend import head_offsets

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
    # two brand-new items with the content of a cold item: no ID, same score as that cold item
    cold = int(data.cold_items[0])
    extra = {m: c.rows(torch.tensor([cold, cold])) for m, c in planted_task["content"].items()}
    grown = Scorer.from_model(res.model, res.adj, res.content, res.item_has_id, extra_content=extra, seen=res.seen)
    s = grown.score(np.arange(3))
    assert s.shape == (3, len(data.items) + 2)
    torch.testing.assert_close(s[:, -1], s[:, cold])
    torch.testing.assert_close(s[:, -2], s[:, cold])
    # without the per-user alignment (which the two new items join) the scores are the base scorer's
    raw = Scorer.from_model(res.model, res.adj, res.content, res.item_has_id, extra_content=extra, align=0.0)
    base_raw = Scorer.from_model(res.model, res.adj, res.content, res.item_has_id, align=0.0)
    torch.testing.assert_close(raw.score(np.arange(3))[:, -1], base_raw.score(np.arange(3))[:, cold])
    torch.testing.assert_close(raw.score(np.arange(3))[:, : len(data.items)], base_raw.score(np.arange(3)))
    items = IdIndex(pa.concat_arrays([data.items.ids, pa.array([1001, 1002], pa.int64())]), "item")
    out = recommend(grown.score, data.users, items, data.users.ids.slice(0, 4), k=len(items), seen=data.train)
    assert {1001, 1002} <= set(out.column("item_id").to_pylist())
    seen = set(zip(data.users.take(data.train[0]).to_pylist(), data.items.take(data.train[1]).to_pylist(), strict=True))
    assert not seen & set(zip(out.column("user_id").to_pylist(), out.column("item_id").to_pylist(), strict=True))


def test_modality_inputs_need_content():
    with pytest.raises(InputError):
        ModalityInputs.from_numpy()


def test_head_offsets_by_hand():
    # items 0-3 have an ID part, 4-5 do not; share 0.5: the top 2 of 4 items with ID, the top 1 of 2 without
    scores = torch.tensor(
        [
            [9.0, 4.0, 2.0, 0.0, 1.0, -1.0],
            [1.0, 2.0, 3.0, 4.0, 7.0, 5.0],
            [1.0, 2.0, 3.0, 4.0, 7.0, 5.0],
        ]
    )
    no_id = torch.tensor([False, False, False, False, True, True])
    # user 0 saw item 0: its head is (4 + 2) / 2 = 3, against 1 without ID; user 2 saw both items without ID
    seen = (torch.tensor([0, 2, 2]), torch.tensor([0, 4, 5]))
    offsets = head_offsets(scores, no_id, seen, 0.5)
    torch.testing.assert_close(offsets, torch.tensor([3.0 - 1.0, 3.5 - 7.0, 0.0]))
    # nothing seen: user 0's head with ID is (9 + 4) / 2
    torch.testing.assert_close(head_offsets(scores, no_id, None, 0.5)[0], torch.tensor(6.5 - 1.0))
    # a tiny share still takes one item of each group; without items of one kind there is nothing to align
    torch.testing.assert_close(head_offsets(scores, no_id, None, 0.01), torch.tensor([9.0 - 1.0, 4.0 - 7.0, 4.0 - 7.0]))
    torch.testing.assert_close(head_offsets(scores, torch.zeros(6, dtype=torch.bool), None, 0.5), torch.zeros(3))


def test_alignment_moves_each_users_items_without_id_together(planted_task):
    data = planted_task["data"]
    cfg = RecommenderConfig(embedding_dim=8, batch_size=128, epochs=3, cl_samples=32, align_no_id=0.2)
    res = fit(data.train, len(data.users), len(data.items), planted_task["content"], cfg, progress=False)
    users = np.arange(len(data.users))
    aligned = res.scorer().score(users)
    raw = Scorer.from_model(res.model, res.adj, res.content, res.item_has_id, align=0.0).score(users)
    no_id = ~res.item_has_id
    # items with an ID part keep their scores; those without move by one amount per user, so the order
    # within each group, and with it warm and strict-cold rankings, cannot change
    torch.testing.assert_close(aligned[:, ~no_id], raw[:, ~no_id])
    moved = aligned[:, no_id] - raw[:, no_id]
    torch.testing.assert_close(moved, moved[:, :1].expand_as(moved))
    # after the move, the mean of each user's top 20% unseen items without ID equals that of the items
    # with one, plus the model's (calibrated) no-ID offset
    unseen = aligned.clone()
    unseen[torch.as_tensor(data.train[0]), torch.as_tensor(data.train[1])] = float("-inf")
    n_id, n_no = int((~no_id).sum()), int(no_id.sum())
    head_id = unseen[:, ~no_id].topk(round(0.2 * n_id), dim=1).values.mean(1)
    head_no = unseen[:, no_id].topk(round(0.2 * n_no), dim=1).values.mean(1)
    expected = head_id + float(res.model.no_id_bias.detach())
    torch.testing.assert_close(head_no, expected, atol=1e-4, rtol=1e-5)
