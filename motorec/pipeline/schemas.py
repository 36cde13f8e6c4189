"""The one place declaring the Parquet data contracts (DESIGN.md "Data contracts") and their schema checks.

`CATALOG_SCHEMA` and `INTERACTIONS_SCHEMA` give the canonical type of every named column (what our own
writers and test fixtures use); the `check_*` functions accept the wider set of types the contract allows
(an id may be a string or any integer, text may be an all-null column, ...) and raise `InputError`
naming the file and the column on anything else. Row-level rules (nulls, duplicates, vector dimensions)
live with the readers, which stream the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from motorec.errors import InputError

ITEM_ID = "item_id"
USER_ID = "user_id"
TEXT_COLUMNS = ("title", "description")
IMAGE = "image"
IMAGE_BYTES = "image_bytes"
UPDATED_AT = "updated_at"
FEATURE_PREFIX = "feat_"
TIMESTAMP = "timestamp"
WEIGHT = "weight"

CATALOG_SCHEMA = pa.schema(
    [
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("description", pa.string()),
        pa.field(IMAGE, pa.string()),
        pa.field(IMAGE_BYTES, pa.binary()),
        pa.field(UPDATED_AT, pa.timestamp("us", tz="UTC")),
    ]
)
"""Canonical catalog columns; `feat_<modality>: list<float32>` columns and any others may follow."""

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field(USER_ID, pa.string(), nullable=False),
        pa.field(ITEM_ID, pa.string(), nullable=False),
        pa.field(TIMESTAMP, pa.timestamp("s", tz="UTC")),
        pa.field(WEIGHT, pa.float32()),
    ]
)
"""Canonical interaction columns; user_id and item_id are required, the rest optional."""


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def is_id_type(t: pa.DataType) -> bool:
    """Tell whether `t` is an id type the contracts allow: string or integer."""
    return _is_string(t) or pa.types.is_integer(t)


def _nullable_string(t: pa.DataType) -> bool:
    return _is_string(t) or pa.types.is_null(t)


def _nullable_binary(t: pa.DataType) -> bool:
    return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_null(t)


def _timestamp_or_int(t: pa.DataType) -> bool:
    return pa.types.is_timestamp(t) or pa.types.is_integer(t)


def _number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


def is_feature_type(t: pa.DataType) -> bool:
    """Tell whether `t` is list<float> (list, large_list or fixed_size_list of any floating type)."""
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    return is_list and pa.types.is_floating(t.value_type)


def _check(schema: pa.Schema, name: str, ok: Callable[[pa.DataType], bool], want: str, where: str) -> None:
    t = schema.field(name).type
    if not ok(t):
        raise InputError(f"{where}: column {name!r} must be {want}, got {t}")


def _check_unique_names(schema: pa.Schema, where: str) -> None:
    seen: set[str] = set()
    for name in schema.names:
        if name in seen:
            raise InputError(f"{where}: column {name!r} appears more than once")
        seen.add(name)


@dataclass(frozen=True)
class CatalogColumns:
    """Which contract columns a catalog file has.

    Attributes:
        id_type: Arrow type of item_id (a string or integer type).
        text: The text columns present (a subset of `TEXT_COLUMNS`, in that order).
        image: Whether an `image` (path or URL) column is present.
        image_bytes: Whether an `image_bytes` column is present.
        updated_at: Whether an `updated_at` column is present.
        features: `feat_<modality>` column names, in file order.
        passthrough: Every other column, in file order (carried along untouched).
    """

    id_type: pa.DataType
    text: tuple[str, ...]
    image: bool
    image_bytes: bool
    updated_at: bool
    features: tuple[str, ...]
    passthrough: tuple[str, ...]


def check_catalog_schema(schema: pa.Schema, where: str) -> CatalogColumns:
    """Check a catalog file's schema against the catalog contract.

    Args:
        schema: The file's Arrow schema.
        where: What to name in error messages (the file path).

    Returns:
        The contract columns found.

    Raises:
        InputError: naming the column, on a missing item_id or a column of the wrong type.
    """
    _check_unique_names(schema, where)
    if ITEM_ID not in schema.names:
        raise InputError(f"{where}: required column {ITEM_ID!r} is missing (columns: {schema.names})")
    _check(schema, ITEM_ID, is_id_type, "string or integer", where)
    text = tuple(c for c in TEXT_COLUMNS if c in schema.names)
    for name in text:
        _check(schema, name, _nullable_string, "string (or null)", where)
    if IMAGE in schema.names:
        _check(schema, IMAGE, _nullable_string, "a string path or URL", where)
    if IMAGE_BYTES in schema.names:
        _check(schema, IMAGE_BYTES, _nullable_binary, "binary", where)
    if UPDATED_AT in schema.names:
        _check(schema, UPDATED_AT, pa.types.is_timestamp, "a timestamp", where)
    features = tuple(n for n in schema.names if n.startswith(FEATURE_PREFIX))
    for name in features:
        if not name[len(FEATURE_PREFIX) :].isidentifier():
            raise InputError(f"{where}: column {name!r} must be named feat_<modality> (letters, digits, _)")
        _check(schema, name, is_feature_type, "list<float>", where)
    known = {ITEM_ID, IMAGE, IMAGE_BYTES, UPDATED_AT, *TEXT_COLUMNS, *features}
    return CatalogColumns(
        id_type=schema.field(ITEM_ID).type,
        text=text,
        image=IMAGE in schema.names,
        image_bytes=IMAGE_BYTES in schema.names,
        updated_at=UPDATED_AT in schema.names,
        features=features,
        passthrough=tuple(n for n in schema.names if n not in known),
    )


def check_interactions_schema(schema: pa.Schema, where: str) -> None:
    """Check an interactions file's schema: user_id, item_id (string or integer); timestamp, weight optional.

    `timestamp` may be an Arrow timestamp or an integer (Unix seconds, as MovieLens ships it); `weight`
    any number.

    Raises:
        InputError: naming the column, on a missing required column or a column of the wrong type.
    """
    _check_unique_names(schema, where)
    for name in (USER_ID, ITEM_ID):
        if name not in schema.names:
            raise InputError(f"{where}: required column {name!r} is missing (columns: {schema.names})")
        _check(schema, name, is_id_type, "string or integer", where)
    if TIMESTAMP in schema.names:
        _check(schema, TIMESTAMP, _timestamp_or_int, "a timestamp or integer Unix seconds", where)
    if WEIGHT in schema.names:
        _check(schema, WEIGHT, _number, "a number", where)


def format_rows(rows: list[int], total: int | None = None, limit: int = 5) -> str:
    """Readable list of (0-based) row numbers: "rows 3, 7, 9 (and 12 more)"."""
    total = len(rows) if total is None else total
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (and {total - min(limit, len(rows))} more)" if total > min(limit, len(rows)) else ""
    return f"row{'s' if total > 1 else ''} {shown}{more}"


def validate_interactions(table: pa.Table, where: str) -> pa.Table:
    """Check an interactions table: schema, and no null user_id or item_id.

    Unknown item_ids are not checked here (that needs the catalog); the caller reports them.

    Returns:
        The same table.

    Raises:
        InputError: naming the column and the (0-based) rows.
    """
    check_interactions_schema(table.schema, where)
    for name in (USER_ID, ITEM_ID):
        col = table.column(name)
        if col.null_count:
            rows = pc.indices_nonzero(pc.is_null(col)).to_pylist()
            raise InputError(f"{where}: column {name!r} has null values at {format_rows(rows)}")
    return table
