"""item_id / user_id <-> row index maps, and a split turned into index arrays.

Models see rows 0..N-1 and 0..U-1; everything that leaves the library is keyed by id again. Lookups of
unknown ids fail with the ids named, never silently drop rows.

Glossary: U users, N items, P interactions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from motorec.errors import InputError
from motorec.recommender.graph import item_degrees
from motorec.recommender.split import ColdSplit


class IdIndex:
    """A fixed order of distinct ids; row r holds `ids[r]`.

    Args:
        ids: distinct, non-null ids (integers or strings).
        what: "item" or "user", used in error messages.
    """

    def __init__(self, ids: pa.Array | pa.ChunkedArray | list, what: str = "item"):
        arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else pa.array(ids)
        if arr.null_count:
            raise InputError(f"{what}_id has nulls")
        if len(pc.unique(arr)) != len(arr):
            counts = pc.value_counts(arr).to_pylist()
            dups = [c["values"] for c in counts if c["counts"] > 1][:5]
            raise InputError(f"duplicate {what}_id values: {dups}")
        self.ids, self.what = arr, what

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_sorted_union(cls, columns: list[pa.ChunkedArray | pa.Array], what: str) -> IdIndex:
        """Sorted distinct ids over several columns."""
        chunks = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns if len(c)]
        if not chunks:
            return cls(pa.array([], pa.int64()), what)
        uniq = pc.unique(pa.concat_arrays([c.cast(chunks[0].type) for c in chunks]))
        return cls(uniq.take(pc.sort_indices(uniq)), what)

    def lookup(self, values: pa.Array | pa.ChunkedArray | list) -> np.ndarray:
        """Row of every value, (P,) int64.

        Raises:
            InputError: some values are not in the index (a few are named).
        """
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else pa.array(values)
        if len(arr) == 0:
            return np.zeros(0, dtype=np.int64)
        rows = pc.index_in(arr.cast(self.ids.type), value_set=self.ids)
        if rows.null_count:
            missing = arr.filter(pc.is_null(rows)).unique().to_pylist()[:5]
            raise InputError(f"unknown {self.what}_id values (first few): {missing}")
        return rows.to_numpy(zero_copy_only=False).astype(np.int64)

    def take(self, rows: np.ndarray) -> pa.Array:
        """Return the ids of rows (P,)."""
        return self.ids.take(pa.array(np.asarray(rows, dtype=np.int64)))


@dataclass
class IndexedSplit:
    """A `ColdSplit` as index arrays over one user index and one item index.

    Attributes:
        users, items: the id maps (items: catalog order when a catalog was given).
        train: (user_idx (P,), item_idx (P,)).
        parts: {"warm_valid" | "warm_test" | "cold_valid" | "cold_test": (user_idx, item_idx)}.
        cold_items: item rows of every cold item (valid and test halves).
        degrees: (N,) training interactions per item.
    """

    users: IdIndex
    items: IdIndex
    train: tuple[np.ndarray, np.ndarray]
    parts: dict[str, tuple[np.ndarray, np.ndarray]]
    cold_items: np.ndarray
    degrees: np.ndarray

    @property
    def warm_items(self) -> np.ndarray:
        """Items with at least one training interaction, (N_warm,) int64."""
        return np.flatnonzero(self.degrees > 0)

    @property
    def item_has_id(self) -> np.ndarray:
        """(N,) bool: the item has training edges, hence a trained ID embedding."""
        return self.degrees > 0


def index_split(split: ColdSplit, item_ids: pa.Array | pa.ChunkedArray | None = None) -> IndexedSplit:
    """Map a split to rows. Items follow `item_ids` (the catalog) when given, else sorted ids.

    Users are the sorted ids of every part, so a user seen only in held-out data still has a row.

    Raises:
        InputError: an interaction names an item missing from `item_ids`.
    """
    names = ("train", "warm_valid", "warm_test", "cold_valid", "cold_test")
    tables = {n: getattr(split, n) for n in names}
    users = IdIndex.from_sorted_union([t.column("user_id") for t in tables.values()], "user")
    if item_ids is None:
        items = IdIndex.from_sorted_union(
            [t.column("item_id") for t in tables.values()] + [split.cold_items.column("item_id")], "item"
        )
    else:
        items = IdIndex(item_ids, "item")
    arrays = {n: (users.lookup(t.column("user_id")), items.lookup(t.column("item_id"))) for n, t in tables.items()}
    train = arrays.pop("train")
    return IndexedSplit(
        users=users,
        items=items,
        train=train,
        parts=arrays,
        cold_items=np.sort(items.lookup(split.cold_items.column("item_id"))),
        degrees=item_degrees(train[0], train[1], len(items)),
    )
