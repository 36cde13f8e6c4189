"""Collision suffixes: a deterministic extra index for items sharing a full code tuple (METHOD.md §2).

Kept separate from encoding: codes say what an item is like; the suffix only makes the identifier
unique. Suffixes are persisted so existing items never renumber when new items arrive.

Columnar throughout (Arrow hash lookups, numpy sorts): a million items cost a few N-sized arrays, not a
million Python tuples and dict entries. Glossary: N items being assigned, M items of the existing
assignment, L levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _sort_key(item_id: Any) -> tuple:
    # integers in numeric order, then strings in lexicographic order; never mixed silently
    return (0, item_id, "") if isinstance(item_id, int | np.integer) else (1, 0, str(item_id))


def _ids(item_ids: Sequence | pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Item ids as an Arrow array (for hash lookups) and the permutation that sorts them.

    Integers sort numerically, strings lexicographically (by code point); a mix of both puts the
    integers first.
    """
    if isinstance(item_ids, pa.ChunkedArray):
        item_ids = item_ids.combine_chunks()
    if not isinstance(item_ids, pa.Array):
        try:
            item_ids = pa.array(item_ids)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # ints and strings mixed: tag them, order in Python
            seq = list(item_ids)
            order = np.array(sorted(range(len(seq)), key=lambda i: _sort_key(seq[i])), dtype=np.int64)
            tagged = [f"{'i' if isinstance(v, int | np.integer) else 's'}:{v}" for v in seq]
            return pa.array(tagged, pa.string()), order
    return item_ids, pc.sort_indices(item_ids).to_numpy()


def _positions(ids: pa.Array, within: pa.Array) -> np.ndarray:
    """For each id, its row in `within`, or -1 where absent: (len(ids),) int64."""
    if len(within) == 0:
        return np.full(len(ids), -1, np.int64)
    return pc.fill_null(pc.index_in(ids, value_set=within), -1).to_numpy().astype(np.int64)


def assign_suffixes(
    item_ids: Sequence | pa.Array | pa.ChunkedArray,
    codes: np.ndarray,
    existing: tuple[Sequence | pa.Array, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Suffix per item: 0 for the first item of a code tuple, 1, 2, ... for later ones.

    Args:
        item_ids: (N,) item ids of the items being assigned (a sequence or an Arrow array).
        codes: (N, L) their codes.
        existing: optional earlier assignment in the same tokenizer version, as (ids (M,), codes (M, L),
            suffixes (M,)). An item present there with the same codes keeps its suffix; every other
            item is new and, in item_id order, takes the next suffix after the largest one already used
            by its tuple.

    Returns:
        (N,) int64 suffixes, aligned with `item_ids`.
    """
    codes = np.asarray(codes)
    n = codes.shape[0]
    ids, order = _ids(item_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} item ids for {n} code rows")
    if n and pc.count_distinct(ids, mode="all").as_py() != n:
        raise ValueError("item_ids must be unique")
    out = np.empty(n, dtype=np.int64)
    kept = np.zeros(n, dtype=bool)
    held_codes, held_suffix = codes[:0], np.zeros(0, np.int64)
    if existing is not None:
        old_ids, _ = _ids(existing[0])
        old_codes, old_suffix = np.asarray(existing[1]), np.asarray(existing[2], dtype=np.int64)
        at_old = _positions(ids, old_ids)  # (N,)
        present = np.flatnonzero(at_old >= 0)
        same = (old_codes[at_old[present]] == codes[present]).all(axis=1)
        kept[present[same]] = True
        out[present[same]] = old_suffix[at_old[present[same]]]
        # an old item keeps its slot unless it is being assigned again with other codes
        at_new = _positions(old_ids, ids)  # (M,)
        holds = at_new < 0
        holds[at_new >= 0] = kept[at_new[at_new >= 0]]
        held_codes, held_suffix = old_codes[holds], old_suffix[holds]
    new = order[~kept[order]]  # rows to number, in item_id order
    if len(new) == 0:
        return out
    # one group id per distinct tuple over the held slots and the new rows
    _, group = np.unique(np.concatenate([held_codes, codes[new]]), axis=0, return_inverse=True)
    group = group.reshape(-1)
    used = np.full(group.max() + 1, -1, dtype=np.int64)  # largest suffix in use per tuple
    np.maximum.at(used, group[: len(held_codes)], held_suffix)
    g_new = group[len(held_codes):]
    by_group = np.argsort(g_new, kind="stable")  # stable: item_id order within each tuple
    g_sorted = g_new[by_group]
    arange = np.arange(len(g_sorted))
    starts = np.maximum.accumulate(np.where(np.r_[True, g_sorted[1:] != g_sorted[:-1]], arange, 0))
    suffix = np.empty(len(new), dtype=np.int64)
    suffix[by_group] = used[g_sorted] + 1 + (arange - starts)
    out[new] = suffix
    return out
