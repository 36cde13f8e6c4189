"""`RQVAEConfig`: every knob of the sparsity-regularised RQ-VAE tokenizer (METHOD.md §2-3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from motorec.configbase import require


@dataclass(frozen=True)
class RQVAEConfig:
    """Tokenizer configuration, saved inside every tokenizer artifact.

    Defaults follow METHOD.md: L=3 levels of K=256 codes on an E=64 latent, beta=0.25, gamma=0.05,
    rho=1/K, cold threshold tau=10. `method="rqkmeans"` selects the residual k-means baseline (no
    encoder/decoder) behind the same interface; the neural fields are then ignored.
    """

    method: Literal["rqvae", "rqkmeans"] = "rqvae"
    levels: int = 3
    codebook_size: int = 256
    latent_dim: int = 64
    hidden_dims: tuple[int, ...] = (256,)
    dropout: float = 0.0
    # losses
    beta: float = 0.25
    sparsity: bool = True
    gamma: float = 0.05
    rho: float | None = None  # None means 1/K
    temperature: float = 0.05  # soft-assignment temperature, relative to the batch mean distance
    rarity: Literal["amplify", "literal", "none"] = "amplify"
    tau: int = 10
    # codebook maintenance
    codebook_update: Literal["ema", "loss"] = "ema"
    ema_decay: float = 0.95
    dead_code_window: int = 50  # optimisation steps without use before a code is re-seeded
    kmeans_init: bool = True
    kmeans_sample: int = 32768
    kmeans_iters: int = 25
    # optimisation
    standardize: bool = True
    epochs: int = 200
    max_steps: int = 3000
    batch_size: int = 512
    lr: float = 2e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 10
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        require(self.levels >= 1, "levels must be >= 1")
        require(self.codebook_size >= 2, "codebook_size must be >= 2")
        require(self.latent_dim >= 1, "latent_dim must be >= 1")
        require(all(h >= 1 for h in self.hidden_dims), "hidden_dims must be positive")
        require(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        require(self.beta >= 0, "beta must be >= 0")
        require(self.gamma >= 0, "gamma must be >= 0")
        require(self.rho is None or 0.0 < self.rho < 1.0, "rho must be in (0, 1)")
        require(self.temperature > 0, "temperature must be > 0")
        require(self.tau >= 1, "tau must be >= 1")
        require(0.0 < self.ema_decay < 1.0, "ema_decay must be in (0, 1)")
        require(self.dead_code_window >= 1, "dead_code_window must be >= 1")
        require(self.kmeans_sample >= 1 and self.kmeans_iters >= 1, "kmeans_sample/iters must be >= 1")
        require(self.epochs >= 1 and self.max_steps >= 1, "epochs and max_steps must be >= 1")
        require(self.batch_size >= 2, "batch_size must be >= 2")
        require(self.lr > 0, "lr must be > 0")
        require(0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)")
        require(self.patience >= 1, "patience must be >= 1")

    @property
    def prior(self) -> float:
        """The sparse Bernoulli prior rho (1/K unless set)."""
        return self.rho if self.rho is not None else 1.0 / self.codebook_size
