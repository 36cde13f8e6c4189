"""Losses of the sparsity-regularised RQ-VAE and the adaptive rarity weights (METHOD.md §2-3)."""

from __future__ import annotations

import math

import numpy as np
import torch

_EPS = 1e-6


def sparse_usage_kl(usage: torch.Tensor, rho: float) -> torch.Tensor:
    """L_sparse = sum_j KL(rho || rho_hat_j) for a Bernoulli prior rho on each code's usage.

    KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat)).
    With sum_j rho_hat_j = 1 it is smallest at uniform usage and punishes dominant codes hardest.

    Shapes:
        usage: (L, K) mean soft assignment per level (each row sums to 1).
        returns: () summed over levels and codes.
    """
    rho_hat = usage.clamp(_EPS, 1.0 - _EPS)
    kl = rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))
    return kl.sum()


def tuple_collision_loss(probs: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
    """Soft count of batch partners that share an item's full code tuple (our addition to METHOD.md §2).

    Under independent soft assignments, items i and j draw the same tuple with probability
    P_ij = prod_l <p_i^(l), p_j^(l)>; the loss is sum_{i != j} P_ij / B, the expected number of other
    batch items colliding with an item. The sparsity prior only evens out each level's marginal usage;
    this term separates near neighbours that every level lumps together (sequels, same genre and year).
    Pairs with identical inputs can never be separated and are left out.

    Shapes:
        probs: (L, B, K) soft assignments per level.
        group: (B,) int ids, equal for items with identical inputs; None treats all rows as distinct.
        returns: ().
    """
    levels, batch, _ = probs.shape
    joint = probs[0] @ probs[0].T  # (B, B)
    for level in range(1, levels):
        joint = joint * (probs[level] @ probs[level].T)
    same = torch.eye(batch, dtype=torch.bool, device=probs.device)
    if group is not None:
        same = same | (group[:, None] == group[None, :])
    return joint.masked_fill(same, 0.0).sum() / batch


def rarity_weights(degrees: np.ndarray | None, n: int, *, mode: str = "amplify", tau: int = 10) -> np.ndarray:
    """Adaptive rarity amplification (ARA) weights per item, (N,) float32.

    - "amplify" (default, METHOD.md §3 decision): w = log2(tau + 2) / log2(d + 2) for d < tau, else 1;
      d = 0 gives 3.58, d = 9 gives 1.04 (with tau = 10).
    - "literal": the paper summary's w = 1 / log2(d + 2) for 0 < d < tau, else 1.
    - "none", or no degrees known: all ones.
    """
    if degrees is None or mode == "none":
        return np.ones(n, dtype=np.float32)
    d = np.asarray(degrees, dtype=np.float64)
    if d.shape != (n,):
        raise ValueError(f"degrees must have shape ({n},), got {d.shape}")
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("degrees must be finite and non-negative")
    w = np.ones(n, dtype=np.float64)
    if mode == "amplify":
        cold = d < tau
        w[cold] = math.log2(tau + 2) / np.log2(d[cold] + 2)
    elif mode == "literal":
        rare = (d > 0) & (d < tau)
        w[rare] = 1.0 / np.log2(d[rare] + 2)
    else:
        raise ValueError(f"unknown rarity mode {mode!r}")
    return w.astype(np.float32)
