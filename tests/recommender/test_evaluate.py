import numpy as np
import pyarrow as pa
import pytest

from motorec.errors import InputError
from motorec.recommender import SETTINGS, ContentKNN, Popularity, evaluate, protocol
from motorec.recommender.evaluate import RESULT_SCHEMA, lookup


def test_protocol_settings(planted_task):
    data = planted_task["data"]
    warm_gt, warm_cand = protocol(data, "warm")
    assert np.array_equal(warm_cand, np.flatnonzero(data.degrees > 0))
    assert not np.isin(warm_gt[1], data.cold_items).any()
    cold_gt, cold_cand = protocol(data, "strict_cold", "valid")
    assert np.array_equal(cold_cand, data.cold_items)
    assert np.isin(cold_gt[1], data.cold_items).all()
    tail_gt, _ = protocol(data, "long_tail")
    assert (data.degrees[tail_gt[1]] < 10).all() and len(tail_gt[1]) <= len(warm_gt[1])
    all_gt, all_cand = protocol(data, "all")
    assert len(all_gt[0]) == len(warm_gt[0]) + len(data.parts["cold_test"][0])
    assert len(all_cand) == len(data.items)
    with pytest.raises(InputError):
        protocol(data, "lukewarm")
    with pytest.raises(InputError):
        protocol(data, "warm", "train")


def test_tidy_table(planted_task):
    data = planted_task["data"]
    table = evaluate(Popularity(data.train, len(data.items)).score, data, "pop")
    assert table.schema == RESULT_SCHEMA
    assert table.num_rows == len(SETTINGS) * 2 * 2
    assert set(table.column("setting").to_pylist()) == set(SETTINGS)
    values = np.array(table.column("value").to_pylist())
    assert ((values >= 0) & (values <= 1)).all()
    # popularity gives every cold item the same zero count: cold recall is chance level, not perfect
    assert lookup(table, "strict_cold", k=10) < 0.9


def test_content_knn_finds_planted_genres(planted_task):
    data = planted_task["data"]
    knn = ContentKNN(data.train, len(data.users), planted_task["feats"])
    table = evaluate(knn.score, data, "knn", settings=("strict_cold",), ks=(5,))
    assert lookup(table, "strict_cold", k=5) > 0.5


def test_baselines_hand_values():
    train = (np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]))
    np.testing.assert_array_equal(Popularity(train, 3).score(np.array([0, 1])).numpy(), [[1, 2, 0], [1, 2, 0]])
    vecs = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    knn = ContentKNN(train, 2, vecs, mask=np.array([True, True, False]))
    s = knn.score(np.array([0, 1])).numpy()
    # user 0: mean of (1,0) and (0,1) -> cosine with (1,0) is 1/sqrt(2); item 2 has no content
    np.testing.assert_allclose(s[0, :2], [2**-0.5, 2**-0.5], rtol=1e-6)
    np.testing.assert_allclose(s[1, :2], [0.0, 1.0], atol=1e-6)
    assert np.isneginf(s[:, 2]).all()


def test_results_do_not_depend_on_chunking(planted_task):
    data = planted_task["data"]
    pop = Popularity(data.train, len(data.items))
    a = evaluate(pop.score, data, "pop", chunk_size=3)
    b = evaluate(pop.score, data, "pop", chunk_size=1000)
    assert a.drop_columns(["value"]).equals(b.drop_columns(["value"]))
    np.testing.assert_allclose(a.column("value").to_numpy(), b.column("value").to_numpy(), rtol=1e-12)


def test_index_lookup_names_unknown_ids(planted_task):
    data = planted_task["data"]
    with pytest.raises(InputError, match="12345"):
        data.items.lookup(pa.array([1, 12345]))
    assert data.items.lookup(pa.array([1, 2])).tolist() == [0, 1]
    with pytest.raises(InputError, match="duplicate"):
        type(data.items)(pa.array([1, 1]))
