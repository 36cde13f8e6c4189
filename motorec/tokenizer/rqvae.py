"""The sparsity-regularised RQ-VAE network: MLP encoder, residual quantiser, MLP decoder.

Loss per item i (METHOD.md §2):  ||f_i - D(z_q)||^2 + beta ||z_e - sg(z_q)||^2  [+ codebook loss],
weighted by the rarity weight w_i and averaged, plus gamma * L_sparse over the batch, plus
collision_weight * the soft tuple-collision count (losses.py; our addition).

Glossary: B batch, D input dim, E latent dim, L levels, K codebook size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.losses import sparse_usage_kl, tuple_collision_loss
from motorec.tokenizer.quantizer import QuantizerOutput, ResidualQuantizer


class MLP(nn.Sequential):
    """Linear layers with ReLU between them (none after the last), plus an optional linear skip path.

    f(x) = MLP(x) + W x when `skip`: the skip path carries the linear part of the map (it alone is
    PCA-like and generalises to unseen items), the MLP what is left. Layers keep nn.Sequential's names
    ("0", "2", ...), so artifacts written before the skip path existed still load.
    """

    def __init__(self, dims: list[int], dropout: float = 0.0, skip: bool = False):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))  # in place: saves a (B, H) copy per layer
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.depth = len(layers)
        self.skip = nn.Linear(dims[0], dims[-1], bias=False) if skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for i in range(self.depth):
            y = self[i](y)
        return y if self.skip is None else torch.addmm(y, x, self.skip.weight.T)  # y + W x, fused


def mlp(dims: list[int], dropout: float = 0.0, skip: bool = False) -> MLP:
    """`MLP` over `dims` (input, hidden..., output)."""
    return MLP(dims, dropout, skip)


@dataclass
class RQVAEOutput:
    """A training/eval pass of the RQ-VAE."""

    recon: torch.Tensor  # (B, D)
    z_e: torch.Tensor  # (B, E)
    z_q: torch.Tensor  # (B, E) quantised latent (straight-through in training)
    codes: torch.Tensor  # (B, L) int64
    loss: torch.Tensor  # () total weighted loss
    recon_loss: torch.Tensor  # (B,) per-item reconstruction MSE
    commit_loss: torch.Tensor  # (B,)
    sparse_loss: torch.Tensor  # ()
    quantizer: QuantizerOutput
    collision_loss: torch.Tensor | None = None  # () soft tuple-collision count, see losses.py


class RQVAE(nn.Module):
    """Encoder E_m, residual quantiser, decoder D_m for one modality of input dimension D."""

    def __init__(self, input_dim: int, config: RQVAEConfig):
        super().__init__()
        self.input_dim, self.config = input_dim, config
        hidden = list(config.hidden_dims)
        self.encoder = mlp([input_dim, *hidden, config.latent_dim], config.dropout, config.skip)
        self.decoder = mlp([config.latent_dim, *reversed(hidden), input_dim], config.dropout, config.skip)
        self.quantizer = ResidualQuantizer(
            config.levels, config.codebook_size, config.latent_dim, config.codebook_update, config.ema_decay
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> RQVAEOutput:
        """Full pass with losses. x (B, D) standardised inputs; weights (B,) rarity weights or None."""
        cfg = self.config
        z_e = self.encoder(x)  # (B, E)
        q = self.quantizer(z_e, cfg.temperature)
        z_q = z_e + (q.z_q - z_e).detach()  # straight-through estimator
        recon = self.decoder(z_q)  # (B, D)
        recon_loss = ((recon - x) ** 2).mean(1)  # (B,)
        commit_loss = ((z_e - q.z_q.detach()) ** 2).mean(1)  # (B,)
        per_item = recon_loss + cfg.beta * commit_loss + q.codebook_loss
        if weights is not None:
            per_item = per_item * weights
        sparse = sparse_usage_kl(q.usage, cfg.prior) if cfg.sparsity and cfg.gamma > 0 else x.new_zeros(())
        collide = x.new_zeros(())
        if cfg.collision_weight > 0:
            group = torch.unique(x, dim=0, return_inverse=True)[1]  # (B,) equal for identical rows
            collide = tuple_collision_loss(q.probs, group)
        loss = per_item.mean() + cfg.gamma * sparse + cfg.collision_weight * collide
        return RQVAEOutput(recon, z_e, z_q, q.codes, loss, recon_loss, commit_loss, sparse, q, collide)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of standardised inputs; x (B, D) -> (B, L) int64."""
        return self.quantizer.assign(self.encoder(x))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstruction (standardised space) from codes; (B, L) -> (B, D)."""
        return self.decoder(self.quantizer.lookup(codes))
