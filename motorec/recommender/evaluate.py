"""Evaluation settings over a strict-cold split, reported as one tidy table (METHOD.md §6).

For part p in {"valid", "test"} (always excluding the user's training items):
- warm: ground truth warm_p; candidates the warm items (items with training interactions).
- long_tail: warm_p restricted to items with fewer than `long_tail_max` (10) training interactions;
  candidates the warm items.
- strict_cold: ground truth cold_p; candidates every cold item (both halves, as ColdRec ranks them).
- all: ground truth warm_p + cold_p; candidates every item of the index, warm and cold together.

Glossary: U users, N items, P interactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import torch

from motorec.errors import InputError
from motorec.recommender.index import IndexedSplit
from motorec.recommender.metrics import evaluate_ranking, group_by_user, tie_permutation

SETTINGS = ("warm", "long_tail", "strict_cold", "all")
RESULT_SCHEMA = pa.schema(
    [
        ("model", pa.string()),
        ("setting", pa.string()),
        ("metric", pa.string()),
        ("k", pa.int64()),
        ("value", pa.float64()),
    ]
)


def protocol(
    data: IndexedSplit, setting: str, part: str = "test", long_tail_max: int = 10
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Ground truth (user_idx, item_idx) and candidate items of one setting.

    Raises:
        InputError: unknown setting or part.
    """
    if part not in ("valid", "test"):
        raise InputError(f"part must be 'valid' or 'test', got {part!r}")
    warm, cold = data.parts[f"warm_{part}"], data.parts[f"cold_{part}"]
    if setting == "warm":
        return warm, data.warm_items
    if setting == "long_tail":
        rare = data.degrees[warm[1]] < long_tail_max
        return (warm[0][rare], warm[1][rare]), data.warm_items
    if setting == "strict_cold":
        return cold, data.cold_items
    if setting == "all":
        both = (np.concatenate([warm[0], cold[0]]), np.concatenate([warm[1], cold[1]]))
        return both, np.arange(len(data.items))
    raise InputError(f"unknown setting {setting!r}; choose from {list(SETTINGS)}")


def evaluate(
    score_fn: Callable[[np.ndarray], torch.Tensor],
    data: IndexedSplit,
    model: str,
    settings: Sequence[str] = SETTINGS,
    part: str = "test",
    ks: Sequence[int] = (10, 20),
    tie_seed: int = 0,
    chunk_size: int = 1024,
) -> pa.Table:
    """Rank every setting with one scorer and return the tidy table (model, setting, metric, k, value).

    Args:
        score_fn: user indices (B,) -> scores (B, N) over the item index of `data`.
        data: the indexed split.
        model: the name written in the `model` column.
        settings: which settings to run.
        part: "test" or "valid" (tune on "valid" only).
        ks: cut-offs.
        tie_seed: seed of the fixed tie-breaking permutation (the same for every model of a run).
        chunk_size: users scored at once.
    """
    n_users, n_items = len(data.users), len(data.items)
    exclude = group_by_user(*data.train, n_users)
    perm = tie_permutation(n_items, tie_seed)
    rows = []
    for setting in settings:
        gt, candidates = protocol(data, setting, part)
        result = evaluate_ranking(score_fn, gt, n_users, n_items, ks, exclude, candidates, perm, chunk_size)
        for (metric, k), value in sorted(result.items()):
            rows.append({"model": model, "setting": setting, "metric": metric, "k": k, "value": value})
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def lookup(results: pa.Table, setting: str, metric: str = "recall", k: int = 20, model: str | None = None) -> float:
    """One value of a result table (the first row matching)."""
    for row in results.to_pylist():
        if (row["setting"], row["metric"], row["k"]) == (setting, metric, k) and model in (
            None,
            row["model"],
        ):
            return row["value"]
    raise KeyError((model, setting, metric, k))
