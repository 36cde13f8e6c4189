import numpy as np
import pytest
import torch

from motorec.errors import InputError
from motorec.recommender.graph import item_degrees, normalized_adjacency, propagate


def dense_reference(u, i, n_users, n_items):
    n = n_users + n_items
    a = np.zeros((n, n))
    for uu, ii in zip(u, i, strict=True):
        a[uu, n_users + ii] = a[n_users + ii, uu] = 1.0
    deg = a.sum(1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    return inv[:, None] * a * inv[None, :]


def test_hand_computed_three_nodes():
    # one user who interacted with both of two items: A = [[0,1,1],[1,0,0],[1,0,0]], degrees (2, 1, 1)
    adj = normalized_adjacency(np.array([0, 0]), np.array([0, 1]), 1, 2).to_dense().numpy()
    s = 1 / np.sqrt(2)
    expected = np.array([[0, s, s], [s, 0, 0], [s, 0, 0]])
    np.testing.assert_allclose(adj, expected, rtol=1e-6)


def test_matches_dense_reference_with_duplicates_and_isolated_items():
    rng = np.random.default_rng(0)
    u = rng.integers(0, 7, 40)
    i = rng.integers(0, 9, 40)  # item 9 and 10 are isolated (n_items = 11)
    u = np.concatenate([u, u[:5]])  # duplicate pairs count once
    i = np.concatenate([i, i[:5]])
    adj = normalized_adjacency(u, i, 7, 11).to_dense().numpy()
    ref = dense_reference(u, i, 7, 11)
    np.testing.assert_allclose(adj, ref, rtol=1e-6, atol=1e-7)
    assert np.all(adj[7 + 9] == 0) and np.all(adj[:, 7 + 10] == 0)
    np.testing.assert_allclose(adj, adj.T)


def test_propagate_equals_dense_powers():
    rng = np.random.default_rng(1)
    u, i = rng.integers(0, 5, 20), rng.integers(0, 6, 20)
    adj = normalized_adjacency(u, i, 5, 6)
    ref = torch.as_tensor(dense_reference(u, i, 5, 6), dtype=torch.float32)
    x = torch.randn(11, 3)
    layers = propagate(adj, x, 3)
    assert len(layers) == 4
    for k, layer in enumerate(layers):
        torch.testing.assert_close(layer, torch.linalg.matrix_power(ref, k) @ x, rtol=1e-5, atol=1e-5)


def test_gradients_flow_through_propagation():
    adj = normalized_adjacency(np.array([0, 1]), np.array([1, 0]), 2, 2)
    x = torch.randn(4, 2, requires_grad=True)
    torch.stack(propagate(adj, x, 2)).mean(0).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_rejects_out_of_range_indices():
    with pytest.raises(InputError):
        normalized_adjacency(np.array([0, 3]), np.array([0, 0]), 2, 2)
    with pytest.raises(InputError):
        normalized_adjacency(np.array([0]), np.array([0, 1]), 2, 2)


def test_item_degrees_count_distinct_users():
    deg = item_degrees(np.array([0, 0, 1, 2]), np.array([1, 1, 1, 0]), 3)
    assert deg.tolist() == [1, 2, 0]
