"""Scoring and top-K recommendation keyed by id (DESIGN.md "Recommendations" contract).

`Scorer` freezes one encoder pass: score(u, i) = e_u . e_i + b_i over every item that has content,
including items added to the catalog after training (they have no ID part and are ranked from their
codes alone). `recommend` turns scores into the (user_id, item_id, rank, score) table, excluding each
user's seen items by default, optionally over a candidate set, and working through users in chunks.

Glossary: U users, N items, B users in a chunk, d embedding width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from motorec.errors import InputError
from motorec.recommender.index import IdIndex
from motorec.recommender.inputs import ModalityInputs
from motorec.recommender.metrics import group_by_user, mask_scores, tie_permutation, top_k
from motorec.recommender.model import MultiSourceGNN


@dataclass
class Scorer:
    """Final user and item vectors of one encoder pass.

    Attributes:
        users: (U, d).
        items: (N, d).
        bias: (N,).
    """

    users: torch.Tensor
    items: torch.Tensor
    bias: torch.Tensor

    @classmethod
    @torch.no_grad()
    def from_model(
        cls,
        model: MultiSourceGNN,
        adj: torch.Tensor,
        content: dict[str, ModalityInputs],
        item_has_id: torch.Tensor,
        extra_content: dict[str, ModalityInputs] | None = None,
    ) -> Scorer:
        """Encode once in eval mode.

        Args:
            model: a trained encoder.
            adj: its training adjacency.
            content: content of the N training-index items.
            item_has_id: (N,) bool.
            extra_content: content of items added after training (appended as rows N, N+1, ...);
                they have no ID and no edges.
        """
        was_training = model.training
        model.eval()
        enc = model(adj, content, item_has_id)
        users, items, bias = enc.users, enc.items, enc.bias
        if extra_content:
            n_new = next(iter(extra_content.values())).n_items
            no_id = items.new_zeros(n_new, model.config.embedding_dim)  # new items have no ID part
            new_items, new_bias, _ = model.encode_items(extra_content, no_id)
            items, bias = torch.cat([items, new_items]), torch.cat([bias, new_bias])
        model.train(was_training)
        return cls(users.detach(), items.detach(), bias.detach())

    def score(self, user_idx: np.ndarray) -> torch.Tensor:
        """Scores of users over every item; (B,) -> (B, N)."""
        u = torch.as_tensor(np.asarray(user_idx, dtype=np.int64), device=self.users.device)
        return self.users[u] @ self.items.T + self.bias[None, :]


def recommend(
    score_fn,
    users: IdIndex,
    items: IdIndex,
    user_ids: pa.Array | list,
    k: int = 20,
    seen: tuple[np.ndarray, np.ndarray] | None = None,
    exclude_seen: bool = True,
    candidates: pa.Array | list | None = None,
    chunk_size: int = 1024,
    tie_seed: int = 0,
) -> pa.Table:
    """Top-K items per user as (user_id, item_id, rank 1..K, score).

    Args:
        score_fn: user rows (B,) -> scores (B, N) over `items` (e.g. `Scorer.score`).
        users: the user index of the model.
        items: the item index the scores are over.
        user_ids: users to recommend for (unknown ids raise InputError).
        k: list length; fewer rows come back when fewer items are rankable.
        seen: (user_idx, item_idx) interactions to exclude (normally the training interactions).
        exclude_seen: False keeps seen items in the ranking.
        candidates: item_ids to rank among; None ranks every item.
        chunk_size: users scored at once; memory stays at chunk_size * N scores.
        tie_seed: seed of the fixed tie-breaking permutation.

    Raises:
        InputError: unknown user or candidate ids, or k < 1.
    """
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    rows = users.lookup(user_ids)
    n_items = len(items)
    cand = None
    if candidates is not None:
        cand = torch.zeros(n_items, dtype=torch.bool)
        cand[torch.as_tensor(items.lookup(candidates))] = True
    exclude = group_by_user(*seen, len(users)) if (seen is not None and exclude_seen) else None
    perm = tie_permutation(n_items, tie_seed)
    kk = min(k, n_items)
    out_u, out_i, out_r, out_s = [], [], [], []
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        scores = mask_scores(score_fn(chunk).detach().to("cpu", torch.float32).clone(), chunk, exclude, cand)
        top = top_k(scores, kk, perm)  # (B, k)
        vals = torch.gather(scores, 1, top)  # (B, k)
        ok = torch.isfinite(vals).numpy()
        ranks = np.broadcast_to(np.arange(1, kk + 1), ok.shape)
        out_u.append(np.repeat(np.arange(start, start + len(chunk)), ok.sum(1)))
        out_i.append(top.numpy()[ok])
        out_r.append(ranks[ok])
        out_s.append(vals.numpy()[ok])
    pos = np.concatenate(out_u) if out_u else np.zeros(0, dtype=np.int64)
    return pa.table(
        {
            "user_id": users.take(rows[pos]) if len(pos) else users.ids.slice(0, 0),
            "item_id": items.take(np.concatenate(out_i)) if len(pos) else items.ids.slice(0, 0),
            "rank": pa.array(np.concatenate(out_r) if len(pos) else [], pa.int32()),
            "score": pa.array(np.concatenate(out_s) if len(pos) else [], pa.float32()),
        }
    )
