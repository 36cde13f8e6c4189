import math

import numpy as np
import pytest
import torch

from motorec.tokenizer.losses import rarity_weights, sparse_usage_kl, tuple_collision_loss


def test_sparse_kl_hand_computed_and_minimal_at_uniform():
    usage = torch.tensor([[0.5, 0.25, 0.25, 0.0]])
    rho = 0.25

    def kl(r):
        r = min(max(r, 1e-6), 1 - 1e-6)
        return rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))

    expected = sum(kl(r) for r in [0.5, 0.25, 0.25, 0.0])
    assert sparse_usage_kl(usage, rho).item() == pytest.approx(expected, rel=1e-5)
    uniform = torch.full((1, 4), 0.25)
    assert sparse_usage_kl(uniform, rho).item() == pytest.approx(0.0, abs=1e-6)
    assert sparse_usage_kl(usage, rho) > sparse_usage_kl(uniform, rho)


def test_rarity_weights_amplify_and_literal():
    d = np.array([0, 1, 9, 10, 500])
    amp = rarity_weights(d, 5, mode="amplify", tau=10)
    np.testing.assert_allclose(
        amp, [math.log2(12) / 1, math.log2(12) / math.log2(3), math.log2(12) / math.log2(11), 1, 1], rtol=1e-6
    )
    assert amp[0] == pytest.approx(3.585, abs=1e-3) and amp[2] == pytest.approx(1.036, abs=1e-3)
    lit = rarity_weights(d, 5, mode="literal", tau=10)
    np.testing.assert_allclose(lit, [1, 1 / math.log2(3), 1 / math.log2(11), 1, 1], rtol=1e-6)
    np.testing.assert_array_equal(rarity_weights(None, 3), np.ones(3))
    np.testing.assert_array_equal(rarity_weights(d, 5, mode="none"), np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        rarity_weights(d, 4)


def test_tuple_collision_loss_counts_shared_tuples_and_skips_identical_inputs():
    # 3 items, 2 levels, one-hot assignments: items 0 and 1 share the tuple (0, 1), item 2 has (1, 1)
    probs = torch.zeros(2, 3, 2)
    probs[0, [0, 1], 0] = 1.0
    probs[0, 2, 1] = 1.0
    probs[1, :, 1] = 1.0
    # ordered pairs (0, 1) and (1, 0) collide: 2 / B
    assert tuple_collision_loss(probs).item() == pytest.approx(2 / 3)
    # items 0 and 1 have identical inputs: nothing can separate them, so they are not counted
    assert tuple_collision_loss(probs, torch.tensor([5, 5, 7])).item() == pytest.approx(0.0)
    # uniform soft assignments: every ordered pair collides with probability (1/K)^L
    uniform = torch.full((2, 4, 8), 1 / 8)
    assert tuple_collision_loss(uniform).item() == pytest.approx(3 * (1 / 8) ** 2, rel=1e-5)
