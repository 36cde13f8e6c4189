"""Collision suffixes: a deterministic extra index for items sharing a full code tuple (METHOD.md §2).

Kept separate from encoding: codes say what an item is like; the suffix only makes the identifier
unique. Suffixes are persisted so existing items never renumber when new items arrive.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _sort_key(item_id: Any) -> tuple:
    # integers in numeric order, then strings in lexicographic order; never mixed silently
    return (0, item_id, "") if isinstance(item_id, int | np.integer) else (1, 0, str(item_id))


def assign_suffixes(
    item_ids: Sequence,
    codes: np.ndarray,
    existing: tuple[Sequence, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Suffix per item: 0 for the first item of a code tuple, 1, 2, ... for later ones.

    Args:
        item_ids: (N,) item ids of the items being assigned.
        codes: (N, L) their codes.
        existing: optional earlier assignment in the same tokenizer version, as (ids (M,), codes (M, L),
            suffixes (M,)). An item present there with the same codes keeps its suffix; every other
            item is new and, in item_id order, takes the next suffix after the largest one already used
            by its tuple.

    Returns:
        (N,) int64 suffixes, aligned with `item_ids`.
    """
    n, _ = codes.shape
    if len(item_ids) != n:
        raise ValueError(f"{len(item_ids)} item ids for {n} code rows")
    if len(set(item_ids)) != n:
        raise ValueError("item_ids must be unique")
    rows = [tuple(r) for r in np.asarray(codes).tolist()]
    current = dict(zip(item_ids, rows, strict=True))
    kept: dict[Any, int] = {}
    used: dict[tuple, int] = {}  # tuple -> largest suffix in use
    if existing is not None:
        old_ids, old_codes, old_suffix = existing
        for item, row, suf in zip(old_ids, np.asarray(old_codes).tolist(), np.asarray(old_suffix).tolist(),
                                  strict=True):
            row = tuple(row)
            if item in current and current[item] != row:
                continue  # the item's codes changed: its old slot is freed, it is numbered as new
            used[row] = max(used.get(row, -1), int(suf))
            if item in current:
                kept[item] = int(suf)
    out = np.empty(n, dtype=np.int64)
    position = {item: i for i, item in enumerate(item_ids)}
    for item in sorted((i for i in item_ids if i not in kept), key=_sort_key):
        row = current[item]
        nxt = used.get(row, -1) + 1
        used[row] = nxt
        out[position[item]] = nxt
    for item, suf in kept.items():
        out[position[item]] = suf
    return out
