"""Calibration of items scored without an ID part against items scored with one.

When warm and cold items are ranked together, a cold item's score is content only while a warm item's
also holds its ID part. The model learns one offset for items without ID (`no_id_bias`, trained on
ID-dropped items), but BPR against uniform negatives rarely asks a content-only score to beat a user's
best warm items, so cold items end up under-scored at the top of a mixed ranking. One scalar shift,
chosen on validation interactions only, puts them on the warm scale (as temperature or Platt scaling
calibrate a classifier after training).

Glossary: U users, N items.
"""

from __future__ import annotations

import numpy as np
import torch

from motorec.recommender.inputs import ModalityInputs
from motorec.recommender.metrics import evaluate_ranking
from motorec.recommender.model import MultiSourceGNN
from motorec.recommender.recommend import Scorer


@torch.no_grad()
def calibrate_no_id_bias(
    model: MultiSourceGNN,
    adj: torch.Tensor,
    content: dict[str, ModalityInputs],
    has_id: torch.Tensor,
    valid: tuple[np.ndarray, np.ndarray],
    exclude: tuple[np.ndarray, np.ndarray],
    candidates: np.ndarray | None,
    grid: tuple[float, ...] = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
) -> float:
    """Shift `model.no_id_bias` by the multiple of the score spread that maximises validation Recall@20.

    Args:
        model: a trained encoder with content.
        adj: its training adjacency (U + N, U + N).
        content: the content it was trained on.
        has_id: (N,) bool, items with training edges.
        valid: (user_idx, item_idx) validation interactions; they must include items without ID.
        exclude: CSR of each user's training items (from `metrics.group_by_user`).
        candidates: items ranked in validation; None ranks all N.
        grid: shifts tried, in units of the standard deviation of the scores.

    Returns:
        The shift added to `model.no_id_bias` (0 when nothing beats the learned value).
    """
    scorer = Scorer.from_model(model, adj, content, has_id)
    no_id = (~has_id).to(scorer.items.dtype).cpu()  # (N,)
    valid_items = np.asarray(valid[1])
    if not model.has_content or no_id[torch.as_tensor(valid_items)].sum() == 0:
        return 0.0
    sample = scorer.score(np.arange(min(256, model.n_users))).cpu()
    spread = float(sample[torch.isfinite(sample)].std())
    best, best_shift = -1.0, 0.0
    for g in grid:
        shift = g * spread

        def score(users: np.ndarray, shift: float = shift) -> torch.Tensor:
            return scorer.score(users).cpu() + shift * no_id[None, :]

        result = evaluate_ranking(score, valid, model.n_users, model.n_items, (20,), exclude, candidates)
        if result[("recall", 20)] > best + 1e-9:
            best, best_shift = result[("recall", 20)], shift
    model.no_id_bias.data += best_shift
    return best_shift
