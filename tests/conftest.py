import numpy as np
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
