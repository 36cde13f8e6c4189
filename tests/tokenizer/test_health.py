import numpy as np
import pytest

from motorec.tokenizer.health import code_health, collision_mask


def test_health_hand_computed():
    codes = np.array([[0, 1], [0, 1], [1, 0], [2, 0]])
    h = code_health(codes, codebook_size=4)
    assert h.utilisation == (0.75, 0.5)
    # level 1 usage 2/4, 1/4, 1/4 -> perplexity exp(H)
    p = np.array([0.5, 0.25, 0.25])
    assert h.perplexity[0] == pytest.approx(float(np.exp(-(p * np.log(p)).sum())))
    assert h.perplexity[1] == pytest.approx(2.0)
    assert h.collision_rate == 0.5 and h.unique_tuples == 3
    np.testing.assert_array_equal(collision_mask(codes), [True, True, False, False])


def test_health_reconstruction_terms():
    x = np.array([[1.0, 0.0], [-1.0, 0.0]])
    h = code_health(np.array([[0], [1]]), 2, x, x * 0.5)
    assert h.mse == pytest.approx(0.25 / 2)
    assert h.explained_variance == pytest.approx(0.75)
