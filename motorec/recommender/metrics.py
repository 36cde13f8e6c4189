"""Full-ranking Recall@K and NDCG@K with MMRec conventions (METHOD.md §6).

Recall@K = hits in the top K / |ground truth|; NDCG@K = DCG / IDCG with binary gains,
DCG = sum_{r <= K} hit_r / log2(r + 1) and IDCG over min(|ground truth|, K) hits. Every score is
ranked: the user's excluded items (normally the training items) and items outside the candidate set
get -inf and can never be hits. Metrics are averaged over users with ground truth.

Ties are broken by a fixed random permutation of the items, never by item order: item indices often
track popularity (MovieLens ids do), so index order would leak (METHOD.md §7).

Glossary: B users in a chunk, N items, K cut-off, P interactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def group_by_user(user_idx: np.ndarray, item_idx: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR grouping of interactions by user: items of user u are indices[indptr[u]:indptr[u + 1]].

    Shapes: (P,), (P,) -> indptr (U + 1,), indices (P,) sorted by user then item.
    """
    u = np.asarray(user_idx, dtype=np.int64)
    i = np.asarray(item_idx, dtype=np.int64)
    order = np.lexsort((i, u))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
    return indptr, i[order]


def tie_permutation(n_items: int, seed: int = 0) -> np.ndarray:
    """Return the fixed random item order used to break score ties: (N,) a permutation of 0..N-1."""
    return np.random.default_rng(seed).permutation(n_items)


def top_k(scores: torch.Tensor, k: int, tie_perm: np.ndarray) -> torch.Tensor:
    """Return the indices of the k best items per row, ties broken by position in `tie_perm`.

    Shapes: scores (B, N), tie_perm (N,) -> (B, k) int64 item indices.
    """
    perm = torch.as_tensor(tie_perm, device=scores.device)
    permuted = scores[:, perm]  # (B, N): column j holds item perm[j]
    order = torch.sort(permuted, dim=1, descending=True, stable=True).indices[:, :k]  # (B, k)
    return perm[order]


def mask_scores(
    scores: torch.Tensor,
    users: np.ndarray,
    exclude: tuple[np.ndarray, np.ndarray] | None,
    candidate_mask: torch.Tensor | None,
) -> torch.Tensor:
    """Set excluded (user, item) pairs and non-candidates to -inf, in place.

    Shapes: scores (B, N), users (B,) rows of the CSR `exclude`, candidate_mask (N,) bool.
    """
    if candidate_mask is not None:
        scores[:, ~candidate_mask] = float("-inf")
    if exclude is not None:
        indptr, indices = exclude
        counts = indptr[users + 1] - indptr[users]
        rows = np.repeat(np.arange(len(users)), counts)
        cols = np.concatenate([indices[indptr[u] : indptr[u + 1]] for u in users]) if len(users) else rows
        scores[torch.as_tensor(rows), torch.as_tensor(cols, dtype=torch.int64)] = float("-inf")
    return scores


def recall_ndcg(
    ranked: np.ndarray, valid: np.ndarray, ground_truth: Sequence[np.ndarray], ks: Sequence[int]
) -> dict[tuple[str, int], np.ndarray]:
    """Per-user Recall@K and NDCG@K from ranked lists.

    Args:
        ranked: (B, Kmax) item indices, best first.
        valid: (B, Kmax) bool, False where the ranked score was -inf (never a hit).
        ground_truth: B arrays of relevant item indices (each non-empty).
        ks: cut-offs, each <= Kmax.

    Returns:
        {("recall", k): (B,), ("ndcg", k): (B,)}.
    """
    b, kmax = ranked.shape
    hits = np.zeros((b, kmax), dtype=bool)
    for row, gt in enumerate(ground_truth):
        hits[row] = np.isin(ranked[row], gt) & valid[row]
    n_gt = np.array([len(g) for g in ground_truth], dtype=np.float64)  # (B,)
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))  # (Kmax,)
    out = {}
    for k in ks:
        dcg = (hits[:, :k] * discount[:k]).sum(1)
        idcg = np.cumsum(discount[:k])[np.minimum(n_gt, k).astype(np.int64) - 1]
        out[("recall", k)] = hits[:, :k].sum(1) / n_gt
        out[("ndcg", k)] = dcg / idcg
    return out


def evaluate_ranking(
    score_fn: Callable[[np.ndarray], torch.Tensor],
    ground_truth: tuple[np.ndarray, np.ndarray],
    n_users: int,
    n_items: int,
    ks: Sequence[int] = (10, 20),
    exclude: tuple[np.ndarray, np.ndarray] | None = None,
    candidates: np.ndarray | None = None,
    tie_perm: np.ndarray | None = None,
    chunk_size: int = 1024,
) -> dict[tuple[str, int], float]:
    """Mean Recall@K / NDCG@K over users with ground truth, scoring users in chunks.

    Args:
        score_fn: maps user indices (B,) to scores (B, N) (a model's or a baseline's `score`).
        ground_truth: (user_idx (P,), item_idx (P,)) held-out interactions.
        n_users: U.
        n_items: N.
        ks: cut-offs.
        exclude: CSR (indptr, indices) from `group_by_user` of items never to rank (training items).
        candidates: item indices allowed in the ranking; None ranks all N items.
        tie_perm: tie-breaking permutation; default `tie_permutation(N, 0)`.
        chunk_size: users scored at once (bounds memory at chunk_size * N scores).

    Returns:
        {(metric, k): mean value}; NaN when no user has ground truth.
    """
    indptr, gt_items = group_by_user(*ground_truth, n_users)
    users = np.flatnonzero(np.diff(indptr) > 0)
    if len(users) == 0:
        return {(m, k): float("nan") for m in ("recall", "ndcg") for k in ks}
    perm = tie_permutation(n_items) if tie_perm is None else tie_perm
    cand = None
    if candidates is not None:
        cand = torch.zeros(n_items, dtype=torch.bool)
        cand[torch.as_tensor(np.asarray(candidates, dtype=np.int64))] = True
    kmax = max(ks)
    sums = {(m, k): 0.0 for m in ("recall", "ndcg") for k in ks}
    for start in range(0, len(users), chunk_size):
        chunk = users[start : start + chunk_size]
        scores = score_fn(chunk).detach().to("cpu", torch.float32).clone()  # (B, N)
        scores = mask_scores(scores, chunk, exclude, cand)
        top = top_k(scores, kmax, perm)  # (B, Kmax)
        valid = torch.isfinite(torch.gather(scores, 1, top)).numpy()
        gts = [gt_items[indptr[u] : indptr[u + 1]] for u in chunk]
        for key, vals in recall_ndcg(top.numpy(), valid, gts, ks).items():
            sums[key] += float(vals.sum())
    return {key: total / len(users) for key, total in sums.items()}
