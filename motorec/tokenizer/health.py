"""Codebook health: utilisation, perplexity, collisions and reconstruction quality (METHOD.md §2).

Glossary: N items, D dims, L levels, K codebook size.
"""

from __future__ import annotations

from collections.abc import Callable
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


def reconstruction_quality(
    x_std: np.ndarray, recon_std: Callable[[slice], np.ndarray], chunk: int = 16_384
) -> tuple[float, float | None]:
    """MSE and explained variance of a reconstruction of x_std (N, D), both in the standardised space.

    `recon_std(rows)` returns the reconstruction of x_std[rows]; it is asked for `chunk` rows at a time, so
    no (N, D) temporary beyond x_std is ever held.
    """
    mean = x_std.mean(0)  # (D,)
    err = total = 0.0
    for start in range(0, len(x_std), chunk):
        rows = slice(start, start + chunk)
        err += float(((x_std[rows] - recon_std(rows)) ** 2).sum())
        total += float(((x_std[rows] - mean) ** 2).sum())
    return err / x_std.size, (1.0 - err / total if total > 0 else None)


def code_health(
    codes: np.ndarray, codebook_size: int, x_std: np.ndarray | None = None,
    recon_std: np.ndarray | Callable[[slice], np.ndarray] | None = None,
) -> CodeHealth:
    """Health metrics of codes (N, L); optionally reconstruction quality of recon_std vs x_std (N, D).

    recon_std is the (N, D) reconstruction or, to bound memory, a function of a row slice returning it for
    those rows (see `reconstruction_quality`).
    """
    n, levels = codes.shape
    util = tuple(float(len(np.unique(codes[:, lv])) / codebook_size) for lv in range(levels))
    perp = tuple(float(np.exp(usage_entropy(codes[:, lv], codebook_size))) for lv in range(levels))
    shared = collision_mask(codes)
    mse = ev = None
    if x_std is not None and recon_std is not None:
        mse, ev = reconstruction_quality(x_std, recon_std if callable(recon_std) else recon_std.__getitem__)
    return CodeHealth(
        n_items=n,
        utilisation=util,
        perplexity=perp,
        collision_rate=float(shared.mean()),
        unique_tuples=int(len(np.unique(codes, axis=0))),
        mse=mse,
        explained_variance=ev,
    )
