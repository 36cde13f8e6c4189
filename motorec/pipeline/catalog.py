"""Reading and validating a catalog Parquet file (DESIGN.md "Catalog"), streamed in record batches.

`validate_catalog` makes one pass over the id and feature columns and raises `InputError` naming the file,
the column and the (0-based) rows on any broken rule; only the id column is held for the whole file (for
the uniqueness check), everything else is one batch at a time. `iter_catalog` then streams the batches
that the embedders consume; `plan_modalities` decides where each modality comes from, and
`motorec.pipeline.inputs` turns a batch into per-modality inputs and content hashes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from motorec.errors import InputError
from motorec.pipeline.config import PipelineConfig, template_fields
from motorec.pipeline.schemas import (
    FEATURE_PREFIX,
    IMAGE,
    IMAGE_BYTES,
    ITEM_ID,
    UPDATED_AT,
    CatalogColumns,
    check_catalog_schema,
    format_rows,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogInfo:
    """A validated catalog file.

    Attributes:
        path: The resolved file path.
        num_rows: Number of items N.
        columns: The contract columns present.
        feature_dims: `feat_<modality>` column -> vector dimension (None when every value is null).
    """

    path: Path
    num_rows: int
    columns: CatalogColumns
    feature_dims: dict[str, int | None]


@dataclass(frozen=True)
class ModalitySource:
    """Where one modality's vectors come from.

    Attributes:
        modality: The modality name ("text", "image", "clip_text", or the suffix of a feat_ column).
        kind: "text" (sentence encoder), "image" and "clip_text" (open_clip), or "feature" (a column).
        column: The feat_ column for kind "feature", else None.
        dim: The feature dimension for kind "feature", else None (the encoder decides).
    """

    modality: str
    kind: Literal["text", "image", "clip_text", "feature"]
    column: str | None = None
    dim: int | None = None


def _open(path: str | Path) -> pq.ParquetFile:
    p = Path(path)
    if not p.exists():
        raise InputError(f"catalog file not found: {p}")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; expected one Parquet file")
    try:
        return pq.ParquetFile(p, pre_buffer=False)  # pre-buffering keeps every row group read: unbounded memory
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{p}: not a readable Parquet file ({exc})") from exc


class _FeatureCheck:
    """Accumulates dimension and finiteness problems of one feat_ column across batches."""

    def __init__(self, column: str, fixed_dim: int | None) -> None:
        self.column, self.dim = column, fixed_dim
        self.bad_dim: list[tuple[int, int]] = []  # (row, length), first few
        self.n_bad_dim = 0
        self.bad_values: list[int] = []
        self.n_bad_values = 0

    def update(self, arr: pa.Array, offset: int) -> None:
        lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)  # (B,) float, NaN for null
        valid = ~np.isnan(lengths)
        if self.dim is None and valid.any():
            self.dim = int(lengths[valid][0])
        if self.dim is not None:
            wrong = np.flatnonzero(valid & (lengths != self.dim))
            self.n_bad_dim += len(wrong)
            self.bad_dim += [(offset + int(r), int(lengths[r])) for r in wrong[: 5 - len(self.bad_dim)]]
        flat = pc.list_flatten(arr)
        values = flat.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls become NaN
        if not np.isfinite(values).all():
            parents = pc.list_parent_indices(arr).to_numpy()
            rows = np.unique(parents[~np.isfinite(values)])
            self.n_bad_values += len(rows)
            self.bad_values += [offset + int(r) for r in rows[: 5 - len(self.bad_values)]]

    def problems(self) -> list[str]:
        out = []
        if self.dim == 0:
            out.append(f"column {self.column!r} holds empty vectors")
        if self.n_bad_dim:
            got = ", ".join(str(n) for _, n in self.bad_dim)
            rows = format_rows([r for r, _ in self.bad_dim], self.n_bad_dim)
            out.append(
                f"column {self.column!r} has vectors of the wrong dimension at {rows} "
                f"(expected {self.dim}, the first vector's; got {got})"
            )
        if self.n_bad_values:
            rows = format_rows(self.bad_values, self.n_bad_values)
            out.append(f"column {self.column!r} has NaN, infinite or null values at {rows}")
        return out


def _fixed_dim(t: pa.DataType) -> int | None:
    return t.list_size if pa.types.is_fixed_size_list(t) else None


def _duplicate_problem(ids: pa.Array) -> str | None:
    counts = pc.value_counts(ids)
    dup_mask = pc.greater(counts.field("counts"), 1)
    dups = pc.filter(counts.field("values"), dup_mask)
    if len(dups) == 0:
        return None
    shown = dups.slice(0, 3)
    rows = pc.indices_nonzero(pc.is_in(ids, value_set=shown)).to_numpy()
    values = ids.take(pa.array(rows)).to_pylist()
    parts = [
        f"{v!r} ({format_rows([int(r) for r, x in zip(rows, values, strict=True) if x == v])})"
        for v in shown.to_pylist()
    ]
    more = f" and {len(dups) - len(shown)} more" if len(dups) > len(shown) else ""
    return f"column {ITEM_ID!r} has {len(dups)} duplicate id(s): {', '.join(parts)}{more}"


def validate_catalog(path: str | Path, read_batch_rows: int = 4096) -> CatalogInfo:
    """Check a catalog file against the contract, streaming it in batches of `read_batch_rows`.

    Rules: item_id present, string or integer, non-null and unique; title/description strings (or null);
    image a string; image_bytes binary; updated_at a timestamp; every feat_<modality> a list<float> whose
    non-null vectors share one dimension and hold only finite values; at least one row.

    Returns:
        The validated catalog's description.

    Raises:
        InputError: naming the file, and the column and rows at fault; every problem found is listed.
    """
    pf = _open(path)
    where = str(Path(path))
    cols = check_catalog_schema(pf.schema_arrow, where)
    if pf.metadata.num_rows == 0:
        raise InputError(f"{where}: the catalog is empty (0 rows)")
    checks = {c: _FeatureCheck(c, _fixed_dim(pf.schema_arrow.field(c).type)) for c in cols.features}
    id_chunks: list[pa.Array] = []
    null_rows: list[int] = []
    n_null, offset = 0, 0
    try:
        for batch in pf.iter_batches(batch_size=read_batch_rows, columns=[ITEM_ID, *cols.features]):
            ids = batch.column(ITEM_ID)
            if ids.null_count:
                rows = pc.indices_nonzero(pc.is_null(ids)).to_numpy()
                n_null += len(rows)
                null_rows += [offset + int(r) for r in rows[: 5 - len(null_rows)]]
            id_chunks.append(ids)
            for c, check in checks.items():
                check.update(batch.column(c), offset)
            offset += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{where}: cannot read the catalog near row {offset} ({exc})") from exc
    problems = []
    if n_null:
        problems.append(f"column {ITEM_ID!r} has null values at {format_rows(null_rows, n_null)}")
    else:
        dup = _duplicate_problem(pa.chunked_array(id_chunks, type=cols.id_type).combine_chunks())
        if dup:
            problems.append(dup)
    for check in checks.values():
        problems += check.problems()
    if problems:
        raise InputError(f"{where}: " + "; ".join(problems))
    dims = {c: check.dim for c, check in checks.items()}
    return CatalogInfo(path=Path(path).resolve(), num_rows=offset, columns=cols, feature_dims=dims)


def iter_catalog(
    info: CatalogInfo, columns: Sequence[str] | None = None, batch_rows: int = 4096
) -> Iterator[pa.RecordBatch]:
    """Stream a validated catalog in record batches of at most `batch_rows` rows, in file order.

    Args:
        info: From `validate_catalog`.
        columns: Columns to read (item_id is always included); None reads all.
        batch_rows: Rows per batch.
    """
    pf = _open(info.path)
    if columns is not None:
        columns = [ITEM_ID, *(c for c in columns if c != ITEM_ID)]
    try:
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{info.path}: cannot read the catalog ({exc})") from exc


def _template_columns(info: CatalogInfo, template: str) -> list[str]:
    """Return the template's fields that exist in the catalog (absent ones render as empty)."""
    cols = info.columns
    readable = {ITEM_ID, *cols.text, *cols.passthrough}
    readable |= {c for c, ok in ((IMAGE, cols.image), (UPDATED_AT, cols.updated_at)) if ok}
    return [f for f in template_fields(template) if f in readable]


def plan_modalities(info: CatalogInfo, cfg: PipelineConfig) -> tuple[ModalitySource, ...]:
    """Decide where each modality comes from for this catalog and config.

    A `feat_<m>` column always supplies modality m (bypassing any encoder of that name); otherwise text
    comes from the sentence encoder when the template reads a column that exists, image from open_clip
    when an image or image_bytes column exists, and clip_text from open_clip when `cfg.clip_text` is set.
    Requested encoder modalities without inputs are skipped with a log message.
    """
    template_cols = _template_columns(info, cfg.text_template)
    absent = [f for f in template_fields(cfg.text_template) if f not in template_cols]
    if absent and template_cols:
        log.warning("%s: text_template reads %s, absent from the catalog (rendered empty)", info.path, absent)
    inputs = {"text": bool(template_cols), "image": info.columns.image or info.columns.image_bytes}
    features = {c[len(FEATURE_PREFIX) :]: c for c in info.columns.features}
    plan: list[ModalitySource] = []
    for m in ("text", "image"):
        if m in cfg.modalities and m not in features:
            if inputs[m]:
                plan.append(ModalitySource(m, m))
            else:
                log.info("%s: no %s inputs, %s modality skipped", info.path, m, m)
    if cfg.clip_text and inputs["text"] and "clip_text" not in features:
        plan.append(ModalitySource("clip_text", "clip_text"))
    for m, col in features.items():
        if info.feature_dims[col] is None:
            log.warning("%s: column %r is entirely null, modality %r skipped", info.path, col, m)
            continue
        plan.append(ModalitySource(m, "feature", column=col, dim=info.feature_dims[col]))
    return tuple(plan)


def needed_columns(plan: Sequence[ModalitySource], cfg: PipelineConfig, info: CatalogInfo) -> list[str]:
    """List the catalog columns a plan reads (item_id first), for `iter_catalog(columns=...)`."""
    cols = [ITEM_ID]
    kinds = {p.kind for p in plan}
    if kinds & {"text", "clip_text"}:
        cols += _template_columns(info, cfg.text_template)
    if "image" in kinds:
        cols += [c for c, ok in ((IMAGE, info.columns.image), (IMAGE_BYTES, info.columns.image_bytes)) if ok]
    cols += [p.column for p in plan if p.column is not None]
    return list(dict.fromkeys(cols))  # first occurrence wins, e.g. "{item_id}" or "{image}" in the template
