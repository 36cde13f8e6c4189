"""Scoring and top-K recommendation keyed by id (DESIGN.md "Recommendations" contract).

`Scorer` freezes one encoder pass: score(u, i) = e_u . e_i + b_i over every item that has content,
including items added to the catalog after training (they have no ID part and are ranked from their
codes alone). Items without ID are then put on each user's own scale (`head_offsets`): a content-only
score and a score with an ID part are not on one scale, and how far apart they sit differs from user to
user. `recommend` turns scores into the (user_id, item_id, rank, score) table, excluding each user's
seen items by default, optionally over a candidate set, and working through users in chunks.

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


def head_offsets(
    scores: torch.Tensor, no_id: torch.Tensor, seen: tuple[torch.Tensor, torch.Tensor] | None, share: float
) -> torch.Tensor:
    """Per-user offsets that put the head of the items without ID on the head of the items with one.

    For each user (row), the offset is the mean of the top `share` of the user's unseen items with an ID
    part minus the mean of the top `share` of the user's unseen items without one (at least one item of
    each; `share` of each group's size, so the two heads are the same quantile of their groups). Added to
    the no-ID items' scores, it leaves the order within each group alone and sets where the best items
    without ID enter the user's list, whatever the scale of the user's content and ID scores. A row with
    no unseen item in one group gets 0.

    Shapes: scores (B, N), no_id (N,) bool, seen (rows, cols) index pairs into scores -> (B,).
    """
    masked = scores.clone()
    if seen is not None:
        masked[seen] = float("-inf")
    heads, ok = [], []
    for group in (~no_id, no_id):
        cols = group.nonzero()[:, 0]  # (G,)
        if cols.numel() == 0:
            return scores.new_zeros(scores.shape[0])
        k = max(1, round(share * cols.numel()))
        top = masked.index_select(1, cols).topk(k, dim=1).values  # (B, k)
        finite = torch.isfinite(top)
        n = finite.sum(1)  # (B,)
        heads.append(torch.where(finite, top, 0.0).sum(1) / n.clamp_min(1))
        ok.append(n > 0)
    return torch.where(ok[0] & ok[1], heads[0] - heads[1], 0.0)


@dataclass
class Scorer:
    """Final user and item vectors of one encoder pass, and how items without ID are put on each user's scale.

    Attributes:
        users: (U, d).
        items: (N, d).
        bias: (N,).
        no_id: (N,) bool, items scored without an ID part; None aligns nothing.
        seen: CSR (indptr, indices) of each user's training items, left out of the heads (`head_offsets`).
        align: the head share of `head_offsets`; 0 scores e_u . e_i + b_i alone.
        no_id_offset: the model's offset for items without ID (already inside `bias`). Alignment
            cancels any constant shared by those items, so it is added again after it.
    """

    users: torch.Tensor
    items: torch.Tensor
    bias: torch.Tensor
    no_id: torch.Tensor | None = None
    seen: tuple[np.ndarray, np.ndarray] | None = None
    align: float = 0.0
    no_id_offset: float = 0.0

    @classmethod
    @torch.no_grad()
    def from_model(
        cls,
        model: MultiSourceGNN,
        adj: torch.Tensor,
        content: dict[str, ModalityInputs],
        item_has_id: torch.Tensor,
        extra_content: dict[str, ModalityInputs] | None = None,
        seen: tuple[np.ndarray, np.ndarray] | None = None,
        align: float | None = None,
    ) -> Scorer:
        """Encode once in eval mode.

        Args:
            model: a trained encoder.
            adj: its training adjacency.
            content: content of the N training-index items.
            item_has_id: (N,) bool.
            extra_content: content of items added after training (appended as rows N, N+1, ...);
                they have no ID and no edges.
            seen: CSR from `metrics.group_by_user` of the training interactions, left out of the heads.
            align: head share for items without ID; None takes `model.config.align_no_id`. A model
                without content (ID only) aligns nothing: its items without ID have no score to align.
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
        share = model.config.align_no_id if align is None else align
        no_id = ~item_has_id.to(items.device, torch.bool)
        if extra_content:
            no_id = torch.cat([no_id, no_id.new_ones(items.shape[0] - no_id.shape[0])])
        if not model.has_content:
            return cls(users.detach(), items.detach(), bias.detach(), no_id, seen, 0.0)
        offset = float(model.no_id_bias.detach())
        return cls(users.detach(), items.detach(), bias.detach(), no_id, seen, share, offset)

    def score(self, user_idx: np.ndarray) -> torch.Tensor:
        """Scores of users over every item; (B,) -> (B, N)."""
        rows = np.asarray(user_idx, dtype=np.int64)
        u = torch.as_tensor(rows, device=self.users.device)
        scores = self.users[u] @ self.items.T + self.bias[None, :]
        if self.align > 0 and self.no_id is not None:
            seen = None
            if self.seen is not None:
                indptr, indices = self.seen
                counts = indptr[rows + 1] - indptr[rows]
                cols = np.concatenate([indices[indptr[r] : indptr[r + 1]] for r in rows]) if len(rows) else counts
                pairs = (np.repeat(np.arange(len(rows)), counts), cols)
                seen = tuple(torch.as_tensor(a, dtype=torch.int64, device=scores.device) for a in pairs)
            offsets = head_offsets(scores, self.no_id, seen, self.align) + self.no_id_offset  # (B,)
            scores = scores + offsets[:, None] * self.no_id.to(scores.dtype)
        return scores


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
