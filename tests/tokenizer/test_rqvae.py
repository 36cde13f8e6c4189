import numpy as np
import pytest
import torch

from motorec.tokenizer import RQVAEConfig
from motorec.tokenizer.fit import _pca_init
from motorec.tokenizer.rqvae import RQVAE


def test_pca_init_starts_as_pca():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g) @ torch.randn(5, 12, generator=g) + 3.0  # (N, D) rank 5, offset
    cfg = RQVAEConfig(levels=1, codebook_size=4, latent_dim=3, hidden_dims=(8,), skip=True, init="pca")
    module = RQVAE(12, cfg)
    _pca_init(module, x)
    with torch.no_grad():
        z, recon = module.encoder(x), module.decoder(module.encoder(x))
    mean = x.mean(0)
    p = torch.linalg.svd(x - mean, full_matrices=False)[2][:3]  # (E, D) top principal directions
    torch.testing.assert_close(z, (x - mean) @ p.T, atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(recon, (x - mean) @ p.T @ p + mean, atol=1e-3, rtol=1e-4)


def test_pca_init_needs_the_skip_path():
    with pytest.raises(ValueError, match="init=.pca. needs skip=True"):
        RQVAEConfig(skip=False, init="pca")


def test_collision_term_enters_the_loss_only_when_weighted():
    torch.manual_seed(0)
    x = torch.randn(64, 10)
    x[1] = x[0]  # an identical pair: excluded from the collision count
    small = dict(levels=2, codebook_size=8, latent_dim=4, hidden_dims=(8,), dropout=0.0)
    on = RQVAE(10, RQVAEConfig(collision_weight=2.0, **small))
    off = RQVAE(10, RQVAEConfig(collision_weight=0.0, **small))
    off.load_state_dict(on.state_dict())
    a, b = on(x), off(x)
    assert a.collision_loss.item() > 0 and b.collision_loss.item() == 0
    assert a.loss.item() == pytest.approx(b.loss.item() + 2.0 * a.collision_loss.item(), rel=1e-5)
    np.testing.assert_array_equal(a.codes.numpy(), b.codes.numpy())
