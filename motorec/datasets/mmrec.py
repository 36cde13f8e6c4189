"""MMRec-format folders (e.g. Amazon Baby/Sports/Clothing) into the catalog and interaction contracts.

An MMRec folder holds `<name>.inter` (tab-separated with a header naming userID, itemID and x_label,
optionally rating and timestamp; x_label 0 = train, 1 = valid, 2 = test) and one `<modality>_feat.npy`
per modality (`image_feat.npy`, `text_feat.npy`) whose row i holds the features of itemID i.

MMRec joins features to items by row order. Here that convention is checked, not trusted: each feature
file must have exactly `max(itemID) + 1` rows (MMRec's item count) and every itemID must lie in
`[0, rows)`; the catalog then keys each `feat_<modality>` vector by an explicit `item_id` column.

Shapes: N items, D_m feature dim of modality m, U users.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from motorec.datasets.schema import (
    FEATURE_TYPE,
    INTERACTIONS_SCHEMA,
    feature_catalog_schema,
    first_rows,
    require_non_null,
    seconds_to_timestamp,
    write_catalog,
    write_interactions,
)
from motorec.errors import InputError

#: x_label value -> split name.
SPLITS = {0: "train", 1: "valid", 2: "test"}
_COLUMN_TYPES = {"userID": pa.int64(), "itemID": pa.int64(), "rating": pa.float32(),
                 "timestamp": pa.float64(), "x_label": pa.int64()}
_ROWS_PER_CHUNK = 1 << 16  # keeps list offsets far below int32 limits for any feature dim


class MMRecData(NamedTuple):
    """An MMRec folder as contract tables: a feature catalog and interactions per split."""

    catalog: pa.Table  # item_id, feat_<modality> ... (N rows)
    splits: dict[str, pa.Table]  # "train" / "valid" / "test" -> INTERACTIONS_SCHEMA tables
    inter_path: Path


def find_inter_file(src_dir: str | os.PathLike) -> Path:
    """Return the folder's `.inter` file: the only one, or `<folder name>.inter` among several."""
    src = Path(src_dir)
    if not src.is_dir():
        raise InputError(f"{src}: not a folder")
    found = sorted(src.glob("*.inter"))
    if len(found) == 1:
        return found[0]
    if (src / f"{src.name}.inter").is_file():
        return src / f"{src.name}.inter"
    if not found:
        raise InputError(f"{src}: no .inter file (MMRec format needs <name>.inter)")
    raise InputError(f"{src}: several .inter files {[p.name for p in found]} and none named {src.name}.inter")


def _read_inter(path: Path) -> pa.Table:
    with open(path, encoding="utf-8") as fh:
        names = fh.readline().rstrip("\r\n").split("\t")
    for required in ("userID", "itemID", "x_label"):
        if required not in names:
            raise InputError(f"{path}: missing column {required!r} in header {names}")
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: t for n, t in _COLUMN_TYPES.items() if n in names}),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{path}: {exc}") from None
    require_non_null(table, ["userID", "itemID", "x_label"], str(path), row_offset=2)
    for name in ("userID", "itemID"):
        negative = pc.less(table.column(name), 0).to_numpy(zero_copy_only=False)
        if negative.any():
            lines = [r + 2 for r in first_rows(negative)]
            raise InputError(f"{path}: column {name!r} is negative on line(s) {lines}")
    labels = table.column("x_label").to_numpy()
    bad = ~np.isin(labels, list(SPLITS))
    if bad.any():
        raise InputError(f"{path}: column 'x_label' must be 0, 1 or 2; line(s) "
                         f"{[r + 2 for r in first_rows(bad)]} hold {sorted(set(labels[bad].tolist()))[:5]}")
    return table


def _load_features(path: Path, n_items: int, inter_path: Path) -> np.ndarray:
    """Load `(N, D)` features whose row i is itemID i, checking shape, dtype and finiteness."""
    try:
        feats = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if feats.ndim != 2 or not np.issubdtype(feats.dtype, np.number):
        raise InputError(f"{path}: expected a 2-D numeric array (items x dim), got {feats.dtype} "
                         f"{feats.shape}")
    if feats.shape[0] != n_items:
        raise InputError(
            f"{path}: has {feats.shape[0]} rows but {inter_path.name} has {n_items} items "
            f"(itemID 0..{n_items - 1}); row i must hold the features of itemID i"
        )
    feats = np.array(feats, dtype=np.float32, order="C")  # (N, D), a copy: the mmap is closed after
    bad = ~np.isfinite(feats).all(axis=1)
    if bad.any():
        raise InputError(f"{path}: NaN or infinite values in row(s) (itemID) {first_rows(bad)}")
    return feats


def _feature_column(feats: np.ndarray) -> pa.ChunkedArray:
    """`(N, D)` float32 array -> list<float32> column, one vector per row, without copying values."""
    n, d = feats.shape
    chunks = []
    for start in range(0, n, _ROWS_PER_CHUNK):
        block = feats[start:start + _ROWS_PER_CHUNK]
        offsets = pa.array(np.arange(0, block.shape[0] * d + 1, d, dtype=np.int32))
        chunks.append(pa.ListArray.from_arrays(offsets, pa.array(block.reshape(-1))))
    return pa.chunked_array(chunks, type=FEATURE_TYPE)


def _split_tables(inter: pa.Table, path: Path) -> dict[str, pa.Table]:
    n = inter.num_rows
    if "timestamp" in inter.column_names:
        ts = seconds_to_timestamp(inter.column("timestamp"), str(path), "timestamp", row_offset=2)
    else:
        ts = pa.nulls(n, pa.timestamp("s"))
    # Implicit feedback when the file has no rating: every interaction weighs 1.
    weight = inter.column("rating") if "rating" in inter.column_names else pa.array(np.ones(n, np.float32))
    full = pa.table([inter.column("userID"), inter.column("itemID"), ts, weight], schema=INTERACTIONS_SCHEMA)
    labels = inter.column("x_label")
    return {name: full.filter(pc.equal(labels, label)) for label, name in SPLITS.items()}


def load_mmrec(src_dir: str | os.PathLike, modalities: list[str] | None = None) -> MMRecData:
    """Load an MMRec-format folder.

    Args:
        src_dir: Folder with `<name>.inter` and `<modality>_feat.npy` files.
        modalities: Modalities to load (e.g. ["image", "text"]); None loads every `*_feat.npy` found.

    Returns:
        `MMRecData(catalog, splits, inter_path)`: the catalog has `item_id` 0..N-1 (int64) and a
        list<float32> column `feat_<modality>` per modality; `splits` maps "train", "valid", "test"
        to interaction tables (weight = rating, or 1.0 when the file has no rating column).

        Shapes: feat_<m> holds N vectors of D_m floats.

    Raises:
        InputError: The .inter file is missing or malformed, a feature file is missing, unreadable,
            non-finite, or its row count differs from the number of items (the message names the file).
    """
    src = Path(src_dir)
    inter_path = find_inter_file(src)
    inter = _read_inter(inter_path)
    if inter.num_rows == 0:
        raise InputError(f"{inter_path}: no interactions")
    n_items = int(pc.max(inter.column("itemID")).as_py()) + 1  # MMRec's item count
    if modalities is None:
        modalities = sorted(p.name[: -len("_feat.npy")] for p in src.glob("*_feat.npy"))
        if not modalities:
            raise InputError(f"{src}: no <modality>_feat.npy files (e.g. image_feat.npy, text_feat.npy)")
    columns = {"item_id": pa.array(np.arange(n_items, dtype=np.int64))}
    for m in modalities:
        path = src / f"{m}_feat.npy"
        if not path.is_file():
            raise InputError(f"{path}: feature file not found for modality {m!r}")
        columns[f"feat_{m}"] = _feature_column(_load_features(path, n_items, inter_path))
    catalog = pa.table(columns, schema=feature_catalog_schema(list(modalities)))
    return MMRecData(catalog, _split_tables(inter, inter_path), inter_path)


def write_mmrec_parquet(
    src_dir: str | os.PathLike, out_dir: str | os.PathLike
) -> tuple[Path, dict[str, Path]]:
    """Load an MMRec folder and write `catalog.parquet` and `<split>.parquet` files atomically.

    Returns:
        `(catalog_path, {"train": path, "valid": path, "test": path})` inside `out_dir`.
    """
    data = load_mmrec(src_dir)
    out = Path(out_dir)
    catalog_path = write_catalog(data.catalog, out / "catalog.parquet")
    split_paths = {name: write_interactions(t, out / f"{name}.parquet") for name, t in data.splits.items()}
    return catalog_path, split_paths


def make_synthetic_mmrec(dir: str | os.PathLike, n_users: int, n_items: int, dim: int,
                         seed: int = 0) -> Path:
    """Write a tiny MMRec-format folder with learnable structure, for tests and benchmarks.

    Items fall into latent clusters; image and text features are two noisy linear views of the item's
    cluster centre, and each user draws most of their items from one preferred cluster. Every item gets
    at least one interaction (so `max(itemID) + 1 == n_items`). Per user, the latest interaction is
    test, the one before valid, the rest train (users with fewer than 3 items have only train rows).

    Args:
        dir: Folder to create or fill; the inter file is named `<folder name>.inter`.
        n_users: Number of users U (>= 1).
        n_items: Number of items N (>= 1).
        dim: Feature dimension D of both `image_feat.npy` and `text_feat.npy` (>= 1).
        seed: Seed of the generator; the same arguments always write the same files.

    Returns:
        The folder path.
    """
    if n_users < 1 or n_items < 1 or dim < 1:
        raise InputError(f"make_synthetic_mmrec needs n_users, n_items, dim >= 1, "
                         f"got {n_users}, {n_items}, {dim}")
    rng = np.random.default_rng(seed)
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    n_clusters = max(1, min(8, n_items // 4))
    cluster = rng.integers(0, n_clusters, size=n_items)  # (N,)
    latent = rng.normal(size=(n_clusters, 16))[cluster] + 0.3 * rng.normal(size=(n_items, 16))  # (N, 16)
    for name in ("image", "text"):
        view = latent @ rng.normal(size=(16, dim)) + 0.1 * rng.normal(size=(n_items, dim))  # (N, D)
        np.save(out / f"{name}_feat.npy", view.astype(np.float32))

    members = [np.flatnonzero(cluster == c) for c in range(n_clusters)]
    users, items = [], []
    for u in range(n_users):
        k = min(n_items, int(rng.integers(3, 11)))
        liked = members[int(rng.integers(0, n_clusters))]
        pool = liked if len(liked) >= k and rng.random() < 0.8 else np.arange(n_items)
        users += [u] * k
        items += rng.choice(pool, size=k, replace=False).tolist()
    missing = np.setdiff1d(np.arange(n_items), items)  # every item gets a (train) interaction
    users += rng.integers(0, n_users, size=len(missing)).tolist()
    items += missing.tolist()
    n = len(users)
    times = 1_600_000_000 + rng.permutation(n) * 60  # distinct, so "latest" is unambiguous
    ratings = rng.integers(1, 6, size=n)
    # Rank each user's rows from their latest: 0 -> test, 1 -> valid, for users with >= 3 rows.
    users_arr = np.asarray(users)
    order = np.lexsort((times, users_arr))
    counts = np.bincount(users_arr, minlength=n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_users = users_arr[order]
    from_end = counts[sorted_users] - 1 - (np.arange(n) - starts[sorted_users])
    labels = np.zeros(n, dtype=np.int64)
    enough = counts[sorted_users] >= 3
    labels[order[enough & (from_end == 0)]] = 2
    labels[order[enough & (from_end == 1)]] = 1
    lines = ["userID\titemID\trating\ttimestamp\tx_label"]
    rows = zip(users, items, ratings, times, labels, strict=True)
    lines += [f"{u}\t{i}\t{r}\t{t}\t{x}" for u, i, r, t, x in rows]
    (out / f"{out.name}.inter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
