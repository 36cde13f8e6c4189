import numpy as np
import pytest

from motorec.recommender import RecommenderConfig, fit
from motorec.recommender.calibrate import calibrate_no_id_bias
from motorec.recommender.metrics import evaluate_ranking, group_by_user


def test_no_id_calibration_never_lowers_validation_recall(planted_task):

    data = planted_task["data"]
    valid = tuple(np.concatenate([data.parts["warm_valid"][k], data.parts["cold_valid"][k]]) for k in (0, 1))
    cfg = RecommenderConfig(embedding_dim=16, batch_size=128, epochs=6, lr=0.01, cl_samples=64, calibrate_no_id=False)
    res = fit(data.train, len(data.users), len(data.items), planted_task["content"], cfg, progress=False)
    exclude = group_by_user(*data.train, len(data.users))

    def recall():
        return evaluate_ranking(res.scorer().score, valid, len(data.users), len(data.items), (20,), exclude)[
            ("recall", 20)
        ]

    before, offset = recall(), float(res.model.no_id_bias.detach())
    shift = calibrate_no_id_bias(res.model, res.adj, res.content, res.item_has_id, valid, exclude, None)
    assert float(res.model.no_id_bias.detach()) == pytest.approx(offset + shift)
    assert recall() >= before
    # warm-only validation holds no item without ID: nothing to calibrate
    assert (
        calibrate_no_id_bias(res.model, res.adj, res.content, res.item_has_id, data.parts["warm_valid"], exclude, None)
        == 0.0
    )
