import numpy as np
import pytest
import torch

from motorec.errors import InputError
from motorec.recommender.graph import (
    bipartite_blocks,
    item_degrees,
    layer_mean,
    normalized_adjacency,
    propagate,
    user_rows_of_layers,
)


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


def test_gradients_agree_with_the_dense_reference():
    # the backward reuses A as its own transpose: check it against autograd through a dense matrix
    rng = np.random.default_rng(2)
    u, i = rng.integers(0, 6, 30), rng.integers(0, 8, 30)
    adj = normalized_adjacency(u, i, 6, 8)
    ref = torch.as_tensor(dense_reference(u, i, 6, 8), dtype=torch.float32)
    x = torch.randn(14, 3, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    weights = torch.randn(14, 3)  # a loss that weighs entries differently, so a transposed A would show
    (torch.stack(propagate(adj, x, 2)).mean(0) * weights).sum().backward()
    layers_ref = [x_ref, ref @ x_ref, ref @ (ref @ x_ref)]
    (torch.stack(layers_ref).mean(0) * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-5, atol=1e-6)


def test_rejects_out_of_range_indices():
    with pytest.raises(InputError):
        normalized_adjacency(np.array([0, 3]), np.array([0, 0]), 2, 2)
    with pytest.raises(InputError):
        normalized_adjacency(np.array([0]), np.array([0, 1]), 2, 2)


def test_item_degrees_count_distinct_users():
    deg = item_degrees(np.array([0, 0, 1, 2]), np.array([1, 1, 1, 0]), 3)
    assert deg.tolist() == [1, 2, 0]


def test_layer_mean_is_the_mean_of_the_propagated_layers():
    rng = np.random.default_rng(3)
    u, i = rng.integers(0, 5, 20), rng.integers(0, 6, 20)
    adj = normalized_adjacency(u, i, 5, 6)
    x = torch.randn(11, 4)
    torch.testing.assert_close(layer_mean(adj, x, 3), torch.stack(propagate(adj, x, 3)).mean(0))
    torch.testing.assert_close(layer_mean(adj, x, 0), x)


def test_bipartite_blocks_are_the_off_diagonal_blocks():
    rng = np.random.default_rng(4)
    u, i = rng.integers(0, 7, 40), rng.integers(0, 9, 40)  # items 9, 10 isolated
    adj = normalized_adjacency(u, i, 7, 11)
    ui, iu = bipartite_blocks(adj, 7)
    dense = adj.to_dense()
    assert ui.shape == (7, 11) and iu.shape == (11, 7)
    torch.testing.assert_close(ui.to_dense(), dense[:7, 7:])
    torch.testing.assert_close(iu.to_dense(), dense[7:, :7])


@pytest.mark.parametrize("layers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("from_items", [False, True])
def test_user_rows_of_layers_match_whole_graph_propagation(layers, from_items):
    # the block products must give the user rows of the whole-graph layer sum, values and gradients
    rng = np.random.default_rng(5)
    n_users, n_items = 6, 9
    u, i = rng.integers(0, n_users, 30), rng.integers(0, 8, 30)
    adj = normalized_adjacency(u, i, n_users, n_items)
    x = torch.randn(n_items if from_items else n_users, 3, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    zeros = torch.zeros(n_users if from_items else n_items, 3)
    x0 = torch.cat([zeros, x_ref] if from_items else [x_ref, zeros])
    ref = (layer_mean(adj, x0, layers) * (layers + 1))[:n_users]
    got = user_rows_of_layers(bipartite_blocks(adj, n_users), x, layers, from_items)
    torch.testing.assert_close(got, ref)
    if layers > 0 or not from_items:  # with no layer, item inputs never reach a user
        weights = torch.randn(n_users, 3)
        (got * weights).sum().backward()
        (ref * weights).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad)
