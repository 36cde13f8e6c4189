"""Residual quantiser: L levels of K codes on an E-dimensional latent (METHOD.md §2).

r^(0) = z_e;  q^(l) = argmin_c ||r^(l-1) - c||^2;  r^(l) = r^(l-1) - q^(l);  z_q = sum_l q^(l).

Glossary: B batch, E latent dim, L levels, K codebook size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class QuantizerOutput:
    """What one quantiser pass produced (a named result, never a flag-dependent tuple)."""

    z_q: torch.Tensor  # (B, E) sum of the chosen codewords
    codes: torch.Tensor  # (B, L) int64
    residuals: torch.Tensor  # (L, B, E) the input of each level, r^(l-1)
    usage: torch.Tensor  # (L, K) batch mean of soft assignments p_ij
    codebook_loss: torch.Tensor  # (B,) sum_l ||sg(r^(l-1)) - q^(l)||^2 / E  (zero under EMA)
    probs: torch.Tensor | None = None  # (L, B, K) per-item soft assignments p_ij


def squared_distances(r: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """||r_i - c_j||^2 via the expansion ||r||^2 - 2 r.c + ||c||^2, clamped at 0.

    Shapes: r (B, E), book (K, E) -> (B, K).
    """
    return (_ranking_distances(r, book) + (r * r).sum(1, keepdim=True)).clamp_min_(0.0)


def _ranking_distances(r: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """||c_j||^2 - 2 r_i.c_j: the squared distance less the per-row constant ||r_i||^2, in one fused addmm.

    Its argmin over j is the nearest code; every path (training, encode, RQ-KMeans) ranks with it, so they
    agree bit for bit. Shapes: r (B, E), book (K, E) -> (B, K).
    """
    return torch.addmm((book * book).sum(1), r, book.T, alpha=-2.0)


def nearest_codes(r: torch.Tensor, book: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code of `book` (K, E) for every row of r (B, E); (B,) int64.

    `min(1).indices` rather than `argmin(1)`: the same first-minimum rule, ~1.5x faster on CPU.
    """
    return _ranking_distances(r, book).min(1).indices


@torch.no_grad()
def greedy_assign(z: torch.Tensor, books: torch.Tensor) -> torch.Tensor:
    """Greedy residual assignment of z (B, E) to L codebooks books (L, K, E); codes (B, L) int64."""
    levels = books.shape[0]
    codes = torch.empty(z.shape[0], levels, dtype=torch.int64, device=z.device)
    r = z
    for level in range(levels):
        book = books[level]  # (K, E)
        idx = nearest_codes(r, book)  # (B,)
        codes[:, level] = idx
        if level + 1 < levels:
            q = book.index_select(0, idx)  # (B, E)
            r = r - q if level == 0 else r.sub_(q)  # never write into the caller's z
    return codes


class ResidualQuantizer(nn.Module):
    """L codebooks of K vectors, updated by a codebook loss or by exponential moving averages.

    Args:
        levels: L.
        codebook_size: K.
        dim: E.
        update: "loss" (codebooks are parameters trained by ||sg(r) - q||^2 and the sparsity prior) or
            "ema" (codebooks follow EMA cluster means and take no gradient).
        decay: EMA decay.
    """

    def __init__(self, levels: int, codebook_size: int, dim: int, update: str = "ema", decay: float = 0.95):
        super().__init__()
        self.levels, self.codebook_size, self.dim = levels, codebook_size, dim
        self.update, self.decay = update, decay
        self.codebooks = nn.Parameter(torch.randn(levels, codebook_size, dim) * 0.01, requires_grad=update == "loss")
        self.register_buffer("ema_count", torch.ones(levels, codebook_size))
        self.register_buffer("ema_sum", self.codebooks.detach().clone())
        self.register_buffer("last_used", torch.zeros(levels, codebook_size, dtype=torch.int64))

    @torch.no_grad()
    def set_codebooks(self, books: torch.Tensor) -> None:
        """Overwrite all codebooks, e.g. with k-means centroids; books (L, K, E)."""
        self.codebooks.copy_(books)
        self.ema_sum.copy_(books)
        self.ema_count.fill_(1.0)

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy nearest-code assignment, level by level (inference path, no autograd bookkeeping).

        Shapes: z (B, E) -> codes (B, L) int64.
        """
        return greedy_assign(z, self.codebooks.detach())

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the chosen codewords; codes (B, L) -> z_q (B, E)."""
        batch, levels = codes.shape
        if levels != self.levels:
            raise ValueError(f"expected {self.levels} code columns, got {levels}")
        z_q = torch.zeros(batch, self.dim, device=codes.device, dtype=self.codebooks.dtype)
        for level in range(levels):
            z_q = z_q + self.codebooks[level][codes[:, level]]
        return z_q

    def forward(self, z_e: torch.Tensor, temperature: float = 0.05) -> QuantizerOutput:
        """Quantise z_e (B, E); soft usage uses p_ij = softmax_j(-d_ij / (T * mean d)) per level.

        Distances are divided by their (detached) batch mean so `temperature` is scale free.
        """
        batch, dim = z_e.shape
        r = z_e
        codes, residuals, probs, cb_loss = [], [], [], z_e.new_zeros(batch)
        z_q = torch.zeros_like(z_e)
        for level in range(self.levels):
            book = self.codebooks[level]  # (K, E)
            ranking = _ranking_distances(r, book)  # (B, K) distance less ||r||^2
            idx = ranking.detach().min(1).indices  # (B,) the rule `assign` uses
            d = (ranking + (r * r).sum(1, keepdim=True)).clamp_min(0.0)  # (B, K) squared distances
            p = torch.softmax(-d / (temperature * d.mean().detach().clamp_min(1e-12)), dim=1)  # (B, K)
            q = book[idx]  # (B, E)
            if self.update == "loss":
                cb_loss = cb_loss + ((r.detach() - q) ** 2).mean(1)
            residuals.append(r)
            probs.append(p)
            codes.append(idx)
            z_q = z_q + q
            r = r - q.detach() if self.update == "loss" else r - q
        p_all = torch.stack(probs, 0)  # (L, B, K)
        return QuantizerOutput(
            z_q=z_q,
            codes=torch.stack(codes, 1),  # (B, L)
            residuals=torch.stack(residuals, 0),  # (L, B, E)
            usage=p_all.mean(1),  # (L, K)
            codebook_loss=cb_loss,
            probs=p_all,
        )

    @torch.no_grad()
    def ema_update(self, out: QuantizerOutput) -> None:
        """Move each codebook towards the mean of the residuals assigned to it (EMA mode only)."""
        levels, batch, dim = out.residuals.shape
        for level in range(levels):
            onehot = torch.zeros(batch, self.codebook_size, device=out.codes.device)
            onehot[torch.arange(batch), out.codes[:, level]] = 1.0  # (B, K)
            count = onehot.sum(0)  # (K,)
            total = onehot.T @ out.residuals[level].detach()  # (K, E)
            self.ema_count[level].mul_(self.decay).add_(count, alpha=1 - self.decay)
            self.ema_sum[level].mul_(self.decay).add_(total, alpha=1 - self.decay)
            n = self.ema_count[level].sum()
            smoothed = (self.ema_count[level] + 1e-5) / (n + self.codebook_size * 1e-5) * n  # Laplace
            self.codebooks[level].copy_(self.ema_sum[level] / smoothed[:, None])

    @torch.no_grad()
    def reset_dead_codes(self, out: QuantizerOutput, step: int, window: int, generator: torch.Generator) -> int:
        """Re-seed every code unused for `window` steps from a random current residual; returns how many."""
        levels, batch, dim = out.residuals.shape
        reset = 0
        for level in range(levels):
            self.last_used[level, out.codes[:, level].unique()] = step
            dead = (step - self.last_used[level]) >= window  # (K,)
            n_dead = int(dead.sum())
            if n_dead == 0:
                continue
            pick = torch.randint(0, batch, (n_dead,), generator=generator)
            noise = torch.randn(n_dead, dim, generator=generator) * 1e-3
            fresh = out.residuals[level, pick].detach() + noise.to(out.residuals.device)  # (n_dead, E)
            self.codebooks[level, dead] = fresh
            self.ema_sum[level, dead] = fresh
            self.ema_count[level, dead] = 1.0
            self.last_used[level, dead] = step
            reset += n_dead
        return reset
