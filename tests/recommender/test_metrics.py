import numpy as np
import pytest
import torch

from motorec.recommender.metrics import evaluate_ranking, group_by_user, recall_ndcg, tie_permutation, top_k

SCORES = torch.tensor(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # user 0: item 0 is a training item (excluded); truth {1, 4}
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # user 1: truth {0}, ranked last
        [0.5, 0.1, 0.2, 0.9, 0.05, 0.3],  # user 2: truth {2, 3, 5}; ranking 3, 0, 5, 2, 1, 4
        [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # user 3: no ground truth, not averaged
    ]
)
TRAIN = (np.array([0]), np.array([0]))
TRUTH = (np.array([0, 0, 1, 2, 2, 2]), np.array([1, 4, 0, 2, 3, 5]))


def score_fn(users):
    return SCORES[torch.as_tensor(users)]


def dcg(ranks):
    return sum(1 / np.log2(r + 1) for r in ranks)


def test_four_user_fixture_against_hand_computed_values():
    got = evaluate_ranking(score_fn, TRUTH, 4, 6, ks=(2, 4), exclude=group_by_user(*TRAIN, 4))
    # user 0 ranks 1, 2, 3, 4, 5; user 1 ranks 0 last; user 2 ranks 3, 0, 5, 2
    recall2 = (1 / 2 + 0 + 1 / 3) / 3
    ndcg2 = (dcg([1]) / dcg([1, 2]) + 0 + dcg([1]) / dcg([1, 2])) / 3
    recall4 = (1 + 0 + 1) / 3
    ndcg4 = (dcg([1, 4]) / dcg([1, 2]) + 0 + dcg([1, 3, 4]) / dcg([1, 2, 3])) / 3
    assert got[("recall", 2)] == pytest.approx(recall2)
    assert got[("ndcg", 2)] == pytest.approx(ndcg2)
    assert got[("recall", 4)] == pytest.approx(recall4)
    assert got[("ndcg", 4)] == pytest.approx(ndcg4)
    assert ndcg4 == pytest.approx(((1 + 1 / np.log2(5)) / (1 + 1 / np.log2(3)) + 1.9307 / 2.1309) / 3, abs=1e-4)


def test_candidates_restrict_the_ranking():
    # only items 2, 3, 4 are candidates: user 0 ranks 2, 3, 4 and finds item 4 at rank 3
    got = evaluate_ranking(score_fn, (np.array([0]), np.array([4])), 4, 6, ks=(2, 3), candidates=np.array([2, 3, 4]))
    assert got[("recall", 2)] == 0.0
    assert got[("recall", 3)] == 1.0
    assert got[("ndcg", 3)] == pytest.approx(dcg([3]) / dcg([1]))


def test_excluded_items_are_never_hits_even_when_k_exceeds_candidates():
    # user 0's truth is its own excluded training item: ranked at -inf, it must not count
    got = evaluate_ranking(score_fn, (np.array([0]), np.array([0])), 4, 6, ks=(6,), exclude=group_by_user(*TRAIN, 4))
    assert got[("recall", 6)] == 0.0


def test_ties_are_broken_by_a_fixed_random_permutation_not_item_order():
    perm = tie_permutation(50, seed=3)
    top = top_k(torch.zeros(2, 50), 5, perm).numpy()
    np.testing.assert_array_equal(top[0], perm[:5])
    np.testing.assert_array_equal(top[0], top[1])
    assert top[0].tolist() != list(range(5))
    # strictly better scores still win over tie order
    scores = torch.zeros(1, 50)
    scores[0, perm[-1]] = 1.0
    assert top_k(scores, 1, perm).item() == perm[-1]


def test_constant_scorer_gets_no_advantage_from_item_order():
    # truth = the lowest item indices; a constant scorer must not find them by index order
    truth = (np.zeros(5, dtype=np.int64), np.arange(5))
    got = evaluate_ranking(lambda u: torch.zeros(len(u), 1000), truth, 1, 1000, ks=(5,))
    assert got[("recall", 5)] < 1.0


def test_recall_ndcg_idcg_uses_min_of_truth_and_k():
    ranked = np.array([[7, 8, 9]])
    valid = np.ones((1, 3), dtype=bool)
    out = recall_ndcg(ranked, valid, [np.array([7, 1, 2, 3, 4])], ks=(3,))
    assert out[("recall", 3)][0] == pytest.approx(1 / 5)
    assert out[("ndcg", 3)][0] == pytest.approx(1 / dcg([1, 2, 3]))


def test_chunking_does_not_change_results():
    a = evaluate_ranking(score_fn, TRUTH, 4, 6, ks=(2, 4), exclude=group_by_user(*TRAIN, 4), chunk_size=1)
    b = evaluate_ranking(score_fn, TRUTH, 4, 6, ks=(2, 4), exclude=group_by_user(*TRAIN, 4), chunk_size=100)
    assert a == b


def test_group_by_user_is_csr():
    indptr, indices = group_by_user(np.array([2, 0, 2, 0]), np.array([5, 3, 1, 4]), 3)
    assert indptr.tolist() == [0, 2, 2, 4]
    assert indices.tolist() == [3, 4, 1, 5]
