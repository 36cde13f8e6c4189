import numpy as np
import torch

from motorec.tokenizer.quantizer import ResidualQuantizer, greedy_assign, nearest_codes, squared_distances
from motorec.tokenizer.rqvae import mlp


def test_squared_distances_match_cdist():
    g = torch.Generator().manual_seed(0)
    r, book = torch.randn(50, 8, generator=g), torch.randn(16, 8, generator=g)
    ref = torch.cdist(r.double(), book.double()) ** 2
    assert torch.allclose(squared_distances(r, book).double(), ref, atol=1e-4)


def test_assign_agrees_with_brute_force_greedy_reference():
    torch.manual_seed(0)
    q = ResidualQuantizer(levels=3, codebook_size=16, dim=6)
    q.set_codebooks(torch.randn(3, 16, 6))
    z = torch.randn(200, 6)
    codes = q.assign(z)
    # brute force: for every item and level, loop over all K codes in float64
    books = q.codebooks.detach().double().numpy()
    for i in range(200):
        r = z[i].double().numpy()
        for level in range(3):
            d = [float(((r - books[level, j]) ** 2).sum()) for j in range(16)]
            j = int(np.argmin(d))
            assert codes[i, level] == j
            r = r - books[level, j]


def test_forward_codes_and_lookup_consistent():
    torch.manual_seed(1)
    q = ResidualQuantizer(levels=2, codebook_size=8, dim=4, update="loss")
    q.set_codebooks(torch.randn(2, 8, 4))
    z = torch.randn(32, 4)
    out = q(z)
    assert out.codes.shape == (32, 2) and out.codes.dtype == torch.int64
    assert torch.equal(out.codes, q.assign(z))
    assert torch.allclose(out.z_q, q.lookup(out.codes))
    assert torch.allclose(out.usage.sum(1), torch.ones(2))
    assert out.residuals.shape == (2, 32, 4)
    assert torch.allclose(out.residuals[1], z - q.codebooks[0][out.codes[:, 0]])


def test_dead_code_reset_reseeds_unused_codes_from_residuals():
    torch.manual_seed(2)
    q = ResidualQuantizer(levels=1, codebook_size=4, dim=2)
    q.set_codebooks(torch.tensor([[[0.0, 0.0], [100.0, 100.0], [200.0, 200.0], [300.0, 300.0]]]))
    z = torch.randn(64, 2) * 0.1  # every point picks code 0
    out = q(z)
    g = torch.Generator().manual_seed(0)
    assert q.reset_dead_codes(out, step=1, window=5, generator=g) == 0
    assert q.reset_dead_codes(out, step=5, window=5, generator=g) == 3
    assert q.codebooks[0, 1:].abs().max() < 1.0  # moved next to the data


def test_nearest_codes_ranks_like_full_squared_distances_and_keeps_input():
    g = torch.Generator().manual_seed(3)
    r, book = torch.randn(500, 16, generator=g), torch.randn(64, 16, generator=g)
    assert torch.equal(nearest_codes(r, book), squared_distances(r, book).argmin(1))
    books = torch.randn(3, 64, 16, generator=g)
    before = r.clone()
    codes = greedy_assign(r, books)
    assert torch.equal(r, before)  # the residual updates never write into the caller's tensor
    q = ResidualQuantizer(levels=3, codebook_size=64, dim=16, update="loss")
    q.set_codebooks(books)
    assert torch.equal(codes, q(r).codes)  # training and inference paths pick the same codes


def test_mlp_skip_path_adds_a_linear_map_and_keeps_layer_names():
    torch.manual_seed(0)
    plain, skip = mlp([6, 5, 3]), mlp([6, 5, 3], skip=True)
    assert list(plain.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(skip.state_dict()) == [*plain.state_dict(), "skip.weight"]
    x = torch.randn(4, 6)
    expected = skip[2](torch.relu(skip[0](x))) + x @ skip.skip.weight.T
    assert torch.allclose(skip(x), expected, atol=1e-6)
