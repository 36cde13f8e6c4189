"""The strict-cold item split (ColdRec protocol) with warm hold-outs, keyed by user_id and item_id.

Definition, for interactions (user_id, item_id, ...) and a seed:
1. Duplicate (user_id, item_id) rows are dropped (the earliest by timestamp is kept when there is one).
2. Cold items: round(cold_fraction * n_items) items drawn uniformly without replacement from the items
   that have interactions (sorted by item_id before drawing, so input row order never matters). Every
   interaction of a cold item leaves training.
3. The cold items are split 1:1 into validation items and test items (ColdRec's `cold_split [0.5, 0.5]`
   is over item groups): cold_valid holds all interactions of the first floor(n_cold / 2) shuffled cold
   items, cold_test those of the rest. Validation and test cold items are therefore disjoint, and
   each holds about half of the cold interactions.
4. Warm interactions are split per user: each user's warm interactions, in random order, give
   floor(warm_test * n_u) to warm_test, floor(warm_valid * n_u) to warm_valid and the rest (at least
   one) to train.
5. A warm item left with no training interaction gets its held-out interactions moved back to train,
   so every warm item has training edges and every cold item has none.

Glossary: P interactions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from motorec.atomic import atomic_path
from motorec.errors import InputError


@dataclass(frozen=True)
class ColdSplit:
    """The parts of a strict-cold split, each an interactions table keyed by user_id and item_id.

    `cold_items` has one row per cold item: item_id and part ("valid" or "test").
    """

    train: pa.Table
    warm_valid: pa.Table
    warm_test: pa.Table
    cold_valid: pa.Table
    cold_test: pa.Table
    cold_items: pa.Table

    def parts(self) -> dict[str, pa.Table]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _dense_ids(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Codes 0..n-1 in sorted id order for every row, and the sorted unique ids."""
    uniq = pc.unique(column)
    uniq = uniq.take(pc.sort_indices(uniq))
    return pc.index_in(column, value_set=uniq).to_numpy(zero_copy_only=False).astype(np.int64), uniq


def _deduplicate(table: pa.Table, u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Row indices keeping one row per (user, item): the earliest timestamp, else the first row."""
    n_items = int(i.max()) + 1 if len(i) else 1
    key = u * n_items + i
    if "timestamp" in table.column_names:
        ts = pc.fill_null(table.column("timestamp").cast(pa.timestamp("us")), pa.scalar(0, pa.timestamp("us")))
        order = np.lexsort((np.arange(len(key)), ts.cast(pa.int64()).to_numpy(), key))
    else:
        order = np.lexsort((np.arange(len(key)), key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return np.sort(order[first])


def strict_cold_split(
    interactions: pa.Table,
    cold_fraction: float = 0.2,
    warm_valid: float = 0.1,
    warm_test: float = 0.1,
    seed: int = 0,
) -> ColdSplit:
    """Split interactions into train, warm valid/test and strict-cold valid/test (module docstring).

    Args:
        interactions: table with user_id and item_id (other columns pass through).
        cold_fraction: share of items held out entirely.
        warm_valid: per-user share of warm interactions for validation.
        warm_test: per-user share of warm interactions for test.
        seed: the split is a function of (interactions as a set, fractions, seed).

    Returns:
        A `ColdSplit`; every part is sorted by (user_id, item_id).

    Raises:
        InputError: missing columns, nulls, or fractions out of range.
    """
    for col in ("user_id", "item_id"):
        if col not in interactions.column_names:
            raise InputError(f"interactions: missing column {col!r}")
        if interactions.column(col).null_count:
            raise InputError(f"interactions: column {col!r} has nulls")
    if not 0.0 <= cold_fraction < 1.0:
        raise InputError(f"cold_fraction must be in [0, 1), got {cold_fraction}")
    if not (0.0 <= warm_valid and 0.0 <= warm_test and warm_valid + warm_test < 1.0):
        raise InputError("warm_valid and warm_test must be >= 0 and sum to < 1")
    u, _ = _dense_ids(interactions.column("user_id"))
    i, item_ids = _dense_ids(interactions.column("item_id"))
    keep = _deduplicate(interactions, u, i)
    # one row per pair, sorted by (user, item) so that row order never changes the split
    keep = keep[np.lexsort((i[keep], u[keep]))]
    table, u, i = interactions.take(pa.array(keep)), u[keep], i[keep]
    rng = np.random.default_rng(seed)
    n_items = len(item_ids)

    # cold items, then their 1:1 split into validation and test item groups
    n_cold = int(round(cold_fraction * n_items))
    cold = rng.choice(n_items, size=n_cold, replace=False)  # already in random order
    cold_valid_items = np.sort(cold[: n_cold // 2])
    is_cold = np.zeros(n_items, dtype=bool)
    is_cold[cold] = True
    is_cold_valid = np.zeros(n_items, dtype=bool)
    is_cold_valid[cold_valid_items] = True

    # per-user random split of warm interactions
    part = np.full(len(u), "train", dtype=object)
    warm_rows = np.flatnonzero(~is_cold[i])
    wu = u[warm_rows]
    order = warm_rows[np.lexsort((rng.random(len(warm_rows)), wu))]  # grouped by user, random inside
    counts = np.bincount(u[order], minlength=int(u.max()) + 1 if len(u) else 0)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(order)) - starts[u[order]]  # position inside the user's shuffled list
    n_u = counts[u[order]]
    n_test = np.floor(warm_test * n_u)
    n_valid = np.floor(warm_valid * n_u)
    part[order[pos < n_test]] = "warm_test"
    part[order[(pos >= n_test) & (pos < n_test + n_valid)]] = "warm_valid"

    # warm items without a training edge take their held-out interactions back
    trained = np.zeros(n_items, dtype=bool)
    trained[i[part == "train"]] = True
    orphan = (~is_cold[i]) & (~trained[i])
    part[orphan] = "train"
    part[is_cold[i] & is_cold_valid[i]] = "cold_valid"
    part[is_cold[i] & ~is_cold_valid[i]] = "cold_test"

    def rows(name: str) -> pa.Table:
        return table.filter(pa.array(part == name))

    cold_items = pa.table(
        {
            "item_id": item_ids.take(pa.array(np.sort(cold))),
            "part": pa.array(np.where(is_cold_valid[np.sort(cold)], "valid", "test"), pa.string()),
        }
    )
    return ColdSplit(
        rows("train"),
        rows("warm_valid"),
        rows("warm_test"),
        rows("cold_valid"),
        rows("cold_test"),
        cold_items,
    )


def write_split(split: ColdSplit, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write every part as `<part>.parquet` in `out_dir`, each file atomically; returns the paths."""
    out = Path(out_dir)
    paths = {}
    for name, table in split.parts().items():
        paths[name] = out / f"{name}.parquet"
        with atomic_path(paths[name]) as tmp:
            pq.write_table(table, tmp)
    return paths


def read_split(src_dir: str | os.PathLike) -> ColdSplit:
    """Read a split written by `write_split`.

    Raises:
        InputError: a part file is missing.
    """
    src = Path(src_dir)
    tables = {}
    for f in fields(ColdSplit):
        path = src / f"{f.name}.parquet"
        if not path.is_file():
            raise InputError(f"{src}: missing split file {path.name}")
        tables[f.name] = pq.read_table(path)
    return ColdSplit(**tables)
