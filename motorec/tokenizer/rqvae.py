"""The sparsity-regularised RQ-VAE network: MLP encoder, residual quantiser, MLP decoder.

Loss per item i (METHOD.md §2):  ||f_i - D(z_q)||^2 + beta ||z_e - sg(z_q)||^2  [+ codebook loss],
weighted by the rarity weight w_i and averaged, plus gamma * L_sparse over the batch.

Glossary: B batch, D input dim, E latent dim, L levels, K codebook size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.losses import sparse_usage_kl
from motorec.tokenizer.quantizer import QuantizerOutput, ResidualQuantizer


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


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


class RQVAE(nn.Module):
    """Encoder E_m, residual quantiser, decoder D_m for one modality of input dimension D."""

    def __init__(self, input_dim: int, config: RQVAEConfig):
        super().__init__()
        self.input_dim, self.config = input_dim, config
        hidden = list(config.hidden_dims)
        self.encoder = mlp([input_dim, *hidden, config.latent_dim], config.dropout)
        self.decoder = mlp([config.latent_dim, *reversed(hidden), input_dim], config.dropout)
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
        loss = per_item.mean() + cfg.gamma * sparse
        return RQVAEOutput(recon, z_e, z_q, q.codes, loss, recon_loss, commit_loss, sparse, q)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of standardised inputs; x (B, D) -> (B, L) int64."""
        return self.quantizer.assign(self.encoder(x))

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstruction (standardised space) from codes; (B, L) -> (B, D)."""
        return self.decoder(self.quantizer.lookup(codes))
