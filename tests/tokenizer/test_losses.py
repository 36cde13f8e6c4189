import math

import numpy as np
import pytest
import torch

from motorec.tokenizer.losses import rarity_weights, sparse_usage_kl


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
    np.testing.assert_allclose(amp, [math.log2(12) / 1, math.log2(12) / math.log2(3), math.log2(12) / math.log2(11),
                                     1, 1], rtol=1e-6)
    assert amp[0] == pytest.approx(3.585, abs=1e-3) and amp[2] == pytest.approx(1.036, abs=1e-3)
    lit = rarity_weights(d, 5, mode="literal", tau=10)
    np.testing.assert_allclose(lit, [1, 1 / math.log2(3), 1 / math.log2(11), 1, 1], rtol=1e-6)
    np.testing.assert_array_equal(rarity_weights(None, 3), np.ones(3))
    np.testing.assert_array_equal(rarity_weights(d, 5, mode="none"), np.ones(5))
    with pytest.raises(ValueError, match="shape"):
        rarity_weights(d, 4)
