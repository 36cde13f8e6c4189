"""Schemas the data set loaders produce, their checks, and atomic Parquet writers.

Every loader in `motorec.datasets` returns tables that match the schemas declared here, so a reader
can rely on exact types (int64 ids, `timestamp[s]` times, float32 weights) whatever the source format.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from motorec.atomic import atomic_path
from motorec.errors import InputError

#: Interactions contract as the loaders write it: one row per (user, item) event.
INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("item_id", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("s")),
        pa.field("weight", pa.float32()),
    ]
)

#: MovieLens catalog: the catalog contract's columns plus pass-through `year` and `genres`.
MOVIELENS_CATALOG_SCHEMA = pa.schema(
    [
        pa.field("item_id", pa.int64(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field("year", pa.int32()),
        pa.field("genres", pa.list_(pa.string())),
    ]
)

#: Type of every precomputed `feat_<modality>` column.
FEATURE_TYPE = pa.list_(pa.float32())


def feature_catalog_schema(modalities: list[str]) -> pa.Schema:
    """Return the schema of a catalog holding only item ids and precomputed `feat_<modality>` columns."""
    fields = [pa.field("item_id", pa.int64(), nullable=False)]
    fields += [pa.field(f"feat_{m}", FEATURE_TYPE) for m in modalities]
    return pa.schema(fields)


def first_rows(mask: np.ndarray, limit: int = 5) -> list[int]:
    """Return the indices of the first `limit` True entries of a boolean mask."""
    return np.flatnonzero(mask)[:limit].tolist()


def require_non_null(table: pa.Table, columns: list[str], source: str, row_offset: int = 1) -> None:
    """Raise `InputError` naming the column and first rows where any of `columns` is null.

    Args:
        table: Table to check.
        columns: Column names that must not hold nulls.
        source: File name (or other label) used in the message.
        row_offset: Added to 0-based row indices so messages show file line numbers.
    """
    for name in columns:
        col = table.column(name)
        if col.null_count:
            mask = col.is_null().to_numpy(zero_copy_only=False)
            lines = [r + row_offset for r in first_rows(mask)]
            raise InputError(f"{source}: column {name!r} is empty on line(s) {lines}")


def seconds_to_timestamp(values: pa.ChunkedArray | pa.Array, source: str, column: str,
                         row_offset: int = 1) -> pa.Array:
    """Convert Unix seconds (integer or integral float) into `timestamp[s]`, keeping nulls.

    Raises:
        InputError: A value has a fractional part or does not fit int64; the message names the line.
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_floating(arr.type):
        as_float = arr.to_numpy(zero_copy_only=False)  # nulls read as NaN and stay null
        present = ~np.isnan(as_float)
        bad = present & (~np.isfinite(as_float) | (np.floor(as_float) != as_float)
                         | (np.abs(as_float) > 2.0**62))
        if bad.any():
            lines = [r + row_offset for r in first_rows(bad)]
            raise InputError(f"{source}: column {column!r} is not whole Unix seconds on line(s) {lines}")
        arr = pc.cast(arr, pa.int64(), safe=False)
    return pc.cast(arr, pa.int64()).cast(pa.timestamp("s"))


def check_schema(table: pa.Table, schema: pa.Schema, what: str) -> None:
    """Raise `InputError` naming the first column whose presence or type differs from `schema`."""
    for field in schema:
        if field.name not in table.column_names:
            raise InputError(f"{what}: missing column {field.name!r}")
        actual = table.schema.field(field.name).type
        if not actual.equals(field.type):
            raise InputError(f"{what}: column {field.name!r} has type {actual}, expected {field.type}")


def check_unique_ids(table: pa.Table, what: str, column: str = "item_id") -> None:
    """Raise `InputError` if `column` is missing, has nulls, or repeats a value (naming the repeats)."""
    if column not in table.column_names:
        raise InputError(f"{what}: missing column {column!r}")
    require_non_null(table, [column], what, row_offset=0)
    counts = pc.value_counts(table.column(column))
    repeated = [str(v["values"]) for v in counts.to_pylist() if v["counts"] > 1][:5]
    if repeated:
        raise InputError(f"{what}: duplicate {column} values {repeated}")


def check_known_items(interactions: pa.Table, catalog: pa.Table, what: str) -> None:
    """Raise `InputError` naming interaction item ids that the catalog lacks (never drop them)."""
    known = pc.is_in(interactions.column("item_id"), value_set=catalog.column("item_id").combine_chunks())
    if not pc.all(known).as_py():
        unknown = pc.unique(pc.filter(interactions.column("item_id"), pc.invert(known)))
        raise InputError(
            f"{what}: {len(unknown)} item_id value(s) are not in the catalog, "
            f"e.g. {sorted(unknown.to_pylist())[:5]}"
        )


def write_table_atomic(table: pa.Table, path: str | os.PathLike) -> Path:
    """Write `table` to a Parquet file atomically (temp file beside `path`, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def write_catalog(table: pa.Table, path: str | os.PathLike) -> Path:
    """Validate the catalog contract's `item_id` rule and write `table` atomically as Parquet.

    Args:
        table: Catalog with a non-null, unique `item_id` column; other columns pass through.
        path: Target Parquet file; its parent folder is created.

    Returns:
        The path written.
    """
    check_unique_ids(table, f"catalog for {path}")
    return write_table_atomic(table, path)


def read_interactions(path: str | os.PathLike) -> pa.Table:
    """Read an interactions Parquet file back into `INTERACTIONS_SCHEMA`.

    Parquet has no seconds unit, so a `timestamp[s]` column is stored as milliseconds; this reader
    casts it (and integer ids, float weights) back. Missing optional columns come back as nulls.

    Raises:
        InputError: The file lacks user_id or item_id, or a column cannot be cast (the message names it).
    """
    table = pq.read_table(path)
    columns = []
    for field in INTERACTIONS_SCHEMA:
        if field.name not in table.column_names:
            if not field.nullable:
                raise InputError(f"{path}: missing column {field.name!r}")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        try:
            columns.append(table.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InputError(f"{path}: column {field.name!r} cannot be read as {field.type}: {exc}") from None
    out = pa.table(columns, names=INTERACTIONS_SCHEMA.names)
    require_non_null(out, ["user_id", "item_id"], str(path), row_offset=0)
    return out.cast(INTERACTIONS_SCHEMA)


def write_interactions(table: pa.Table, path: str | os.PathLike) -> Path:
    """Validate `table` against `INTERACTIONS_SCHEMA` and write it atomically as Parquet.

    Parquet stores `timestamp[s]` as milliseconds; `read_interactions` restores the exact schema.

    Returns:
        The path written.
    """
    what = f"interactions for {path}"
    check_schema(table, INTERACTIONS_SCHEMA, what)
    require_non_null(table, ["user_id", "item_id"], what, row_offset=0)
    return write_table_atomic(table.select(INTERACTIONS_SCHEMA.names).cast(INTERACTIONS_SCHEMA), path)
