import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    # overrides tests/conftest.py's two threads: the tokenizer tests train tiny models (D=24, B=512) whose
    # ops are too small to split, and on a shared two-core machine a second thread made them ~5x slower
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
