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

    Where METHOD.md is silent, the defaults were chosen on MovieLens-100k MiniLM vectors (K=64, L=3;
    in-sample MSE / held-out MSE / collision rate, RQ-KMeans 0.523 / 0.664 / 0.045; see
    benchmarks/tokenizer_bench.py). Each was measured against the alternative:
    - skip + init="pca": encoder and decoder start as PCA with the MLPs at zero, so training starts
      from PCA + residual k-means; plain MLPs from random weights reached 0.600 / 0.719 / 0.056;
    - codebook_update="loss": EMA codebooks drifted in long runs (in-sample MSE rose after ~500 steps)
      and ended worse in-sample (0.545 vs 0.522 at decay 0.95);
    - collision_weight=2: collisions 0.056 -> 0.021-0.025 (the floor from duplicate movies is 0.021)
      at no cost in MSE;
    - dropout=0.3, weight_decay=1e-4, lr=1e-3, val_tolerance=0.005: without them held-out MSE rose as
      soon as training moved away from the initialisation; with them it stays flat while the
      in-sample fit improves (0.49 / 0.66). On 200k-item sets they slow convergence (see the bench).
    """

    method: Literal["rqvae", "rqkmeans"] = "rqvae"
    levels: int = 3
    codebook_size: int = 256
    latent_dim: int = 64
    hidden_dims: tuple[int, ...] = (256,)
    dropout: float = 0.3  # on the MLP branches only (the skip paths stay linear)
    skip: bool = True  # linear skip path in encoder and decoder: f(x) = W x + MLP(x)
    init: Literal["random", "pca"] = "pca"  # "pca": skip paths start as PCA (needs skip), MLPs at zero
    # losses
    beta: float = 0.25
    sparsity: bool = True
    gamma: float = 0.05
    rho: float | None = None  # None means 1/K
    collision_weight: float = 2.0  # soft tuple-collision penalty (losses.tuple_collision_loss)
    temperature: float = 0.05  # soft-assignment temperature, relative to the batch mean distance
    rarity: Literal["amplify", "literal", "none"] = "amplify"
    tau: int = 10
    # codebook maintenance
    codebook_update: Literal["ema", "loss"] = "loss"
    ema_decay: float = 0.95
    dead_code_window: int = 50  # optimisation steps without use before a code is re-seeded
    kmeans_init: bool = True
    kmeans_sample: int = 32768
    kmeans_iters: int = 10  # Lloyd iterations (per dimension stage when progressive, as faiss's RQ)
    kmeans_progressive: bool = True  # progressive-dimension k-means (faiss's RQ training); see kmeans.py
    # optimisation
    standardize: bool = True
    epochs: int = 1000
    max_steps: int = 3000
    batch_size: int = 512
    lr: float = 1e-3
    lr_schedule: Literal["constant", "cosine"] = "constant"
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 10  # evaluations in a row worse than the tolerance allows before stopping
    eval_every: int = 25  # optimisation steps between held-out evaluations
    val_tolerance: float = 0.005  # keep the latest state with held-out MSE <= best * (1 + tolerance)
    refit_below: int = 20_000  # with fewer items, refit on all of them for the chosen number of steps
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
        require(self.collision_weight >= 0, "collision_weight must be >= 0")
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
        require(self.eval_every >= 1, "eval_every must be >= 1")
        require(self.val_tolerance >= 0, "val_tolerance must be >= 0")
        require(self.refit_below >= 0, "refit_below must be >= 0")
        require(self.init != "pca" or self.skip, "init='pca' needs skip=True (PCA lives in the skip paths)")

    @property
    def prior(self) -> float:
        """The sparse Bernoulli prior rho (1/K unless set)."""
        return self.rho if self.rho is not None else 1.0 / self.codebook_size


# Fields added after the first artifacts were written, with the value that matches how those artifacts
# were built. An artifact's config.json lacking one of them is read with this value, not the current
# default (the skip path, for one, changes which weights the artifact must hold). eval_every has no
# old equivalent (evaluation was per epoch) and only matters for training.
LEGACY_DEFAULTS: dict[str, object] = {
    "skip": False,
    "init": "random",
    "collision_weight": 0.0,
    "kmeans_progressive": False,
    "lr_schedule": "constant",
    "val_tolerance": 0.0,
    "refit_below": 0,
}
