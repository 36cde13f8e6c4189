"""Codebook health: utilisation, perplexity, collisions and reconstruction quality (METHOD.md §2).

Glossary: N items, D dims, L levels, K codebook size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class CodeHealth:
    """Health of one code assignment.

    utilisation: per level, share of the K codes used by at least one item.
    perplexity: per level, exp(entropy of the code-usage distribution); K means perfectly uniform.
    collision_rate: share of items whose full code tuple is shared with at least one other item.
    mse / explained_variance: reconstruction error in the standardised space, when vectors are given.
    """

    n_items: int
    utilisation: tuple[float, ...]
    perplexity: tuple[float, ...]
    collision_rate: float
    unique_tuples: int
    mse: float | None = None
    explained_variance: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["utilisation"], d["perplexity"] = list(self.utilisation), list(self.perplexity)
        return d


def usage_entropy(codes_level: np.ndarray, codebook_size: int) -> float:
    """Entropy (nats) of the empirical code distribution of one level; codes_level (N,)."""
    counts = np.bincount(codes_level, minlength=codebook_size).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def collision_mask(codes: np.ndarray) -> np.ndarray:
    """(N,) bool: True where the item's full tuple is shared with another item; codes (N, L)."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return counts[inverse.reshape(-1)] > 1


def code_health(
    codes: np.ndarray, codebook_size: int, x_std: np.ndarray | None = None, recon_std: np.ndarray | None = None
) -> CodeHealth:
    """Health metrics of codes (N, L); optionally reconstruction quality of recon_std vs x_std (N, D)."""
    n, levels = codes.shape
    util = tuple(float(len(np.unique(codes[:, lv])) / codebook_size) for lv in range(levels))
    perp = tuple(float(np.exp(usage_entropy(codes[:, lv], codebook_size))) for lv in range(levels))
    shared = collision_mask(codes)
    mse = ev = None
    if x_std is not None and recon_std is not None:
        err = ((x_std - recon_std) ** 2).sum()
        total = ((x_std - x_std.mean(0)) ** 2).sum()
        mse = float(err / x_std.size)
        ev = float(1.0 - err / total) if total > 0 else None
    return CodeHealth(
        n_items=n,
        utilisation=util,
        perplexity=perp,
        collision_rate=float(shared.mean()),
        unique_tuples=int(len(np.unique(codes, axis=0))),
        mse=mse,
        explained_variance=ev,
    )
