"""The Ray Data stages of `--engine ray`: batch functions run by actor pools, and their driver-side helpers.

Two kinds of stage, each `read_parquet -> map_batches(actor pool)`, their output streamed back to the driver and
written as Parquet part files under the run's staging folder:

* embed: per catalog row, the item id, title, item hash and one content hash per modality, plus vectors
  for the content the store's cache lacks (the driver sends the 64-bit prefixes of what it holds);
* codes: per item to encode, its codes from the frozen tokenizer (artifact files shipped to the actors).

Everything here only calls the local engine's own functions (`content_hashes`, `Embedders.embed`,
`Tokenizer.encode`), so both engines compute the same hashes, vectors and codes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from motorec.pipeline.catalog import ModalitySource
from motorec.pipeline.config import PipelineConfig
from motorec.pipeline.embed import Embedders
from motorec.pipeline.hashing import item_hash
from motorec.pipeline.inputs import content_hashes
from motorec.pipeline.schemas import ITEM_ID
from motorec.pipeline.store import vectors_from_arrow, vectors_to_arrow

CODES_SCHEMA = pa.schema([("item_id", pa.string()), ("codes", pa.list_(pa.int32()))])


def hash_column(modality: str) -> str:
    return f"h_{modality}"


def embed_schema(plan: Sequence[ModalitySource]) -> pa.Schema:
    """Rows of kind 'item' (ids, title, item and content hashes) and 'vector' (one new vector or failure)."""
    names = ["kind", "item_id", "title", "item_hash", *(hash_column(p.modality) for p in plan), "modality",
             "content_hash"]
    return pa.schema([*((n, pa.string()) for n in names), ("vector", pa.list_(pa.float32())), ("reason", pa.string())])


def _as_batch(table: pa.Table | pa.RecordBatch) -> pa.RecordBatch:
    """One RecordBatch (the inputs helpers take batches); Ray hands the UDF a Table."""
    if isinstance(table, pa.RecordBatch):
        return table
    batches = table.combine_chunks().to_batches()
    return batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=table.schema)


def hash_prefixes(hashes: Sequence[str]) -> np.ndarray:
    """(N,) uint64 keys: the first 16 hex digits of each SHA-256 content hash."""
    return np.fromiter((int(h[:16], 16) for h in hashes), dtype=np.uint64, count=len(hashes))


def _isin(keys: np.ndarray, probe: np.ndarray) -> np.ndarray:
    if not len(keys):
        return np.zeros(len(probe), bool)
    return keys[np.minimum(np.searchsorted(keys, probe), len(keys) - 1)] == probe


class EmbedActor:
    """Per catalog batch: every row's hashes (as the local engine computes them) and vectors for new content.

    A content hash is embedded (first row per hash in the batch) unless its 64-bit prefix is in `skip`
    (modality -> sorted uint64 prefixes of hashes already cached or failed earlier). A prefix collision
    only skips a vector: the driver embeds whatever is still missing after the stage.
    """

    def __init__(self, cfg: PipelineConfig, catalog_path: str, plan: tuple[ModalitySource, ...], has_title: bool,
                 skip):
        import ray

        self.embedders = Embedders(cfg, catalog_path)
        self.plan, self.template, self.has_title = plan, cfg.text_template, has_title
        self.skip = ray.get(skip) if isinstance(skip, ray.ObjectRef) else skip
        self.schema = embed_schema(plan)

    def _wanted(self, modality: str, h: list[str | None]) -> list[int]:
        present = [r for r, x in enumerate(h) if x is not None]
        if present:
            hit = _isin(self.skip.get(modality, np.zeros(0, np.uint64)), hash_prefixes([h[r] for r in present]))
            present = [r for r, skipped in zip(present, hit, strict=True) if not skipped]
        first: dict[str, int] = {}
        for r in present:
            first.setdefault(h[r], r)
        return sorted(first.values())

    def _part(self, n: int, **cols) -> pa.Table:
        return pa.Table.from_arrays([cols.get(f.name, pa.nulls(n, f.type)) for f in self.schema], schema=self.schema)

    def __call__(self, table: pa.Table) -> pa.Table:
        batch = _as_batch(table)
        n = batch.num_rows
        hashes = content_hashes(batch, self.plan, self.template, self.embedders.image_root)
        items = {"kind": pa.array(["item"] * n, pa.string()), "item_id": pc.cast(batch.column(ITEM_ID), pa.string()),
                 "item_hash": pa.array([item_hash({m: hashes[m][r] for m in hashes}) for r in range(n)], pa.string())}
        items |= {hash_column(m): pa.array(h, pa.string()) for m, h in hashes.items()}
        if self.has_title:
            items["title"] = pc.cast(batch.column("title"), pa.string())
        parts = [self._part(n, **items)]
        for source in self.plan:
            m, h = source.modality, hashes[source.modality]
            rows = self._wanted(m, h)
            out = self.embedders.embed(source, batch, rows) if rows else None
            if out is not None and out.rows:
                k = len(out.rows)
                parts.append(self._part(k, kind=pa.array(["vector"] * k, pa.string()),
                                        modality=pa.array([m] * k, pa.string()),
                                        content_hash=pa.array([h[r] for r in out.rows], pa.string()),
                                        vector=vectors_to_arrow(out.vectors)))
            if out is not None and out.errors:
                k = len(out.errors)
                parts.append(self._part(k, kind=pa.array(["vector"] * k, pa.string()),
                                        modality=pa.array([m] * k, pa.string()),
                                        content_hash=pa.array([h[r] for r, _ in out.errors], pa.string()),
                                        reason=pa.array([reason for _, reason in out.errors], pa.string())))
        return pa.concat_tables(parts)


class CodeActor:
    """Codes from a frozen tokenizer, rebuilt from its artifact files (so workers need no access to the store)."""

    def __init__(self, files: dict[str, bytes], version: str, device: str):
        from motorec.tokenizer import load_tokenizer

        with tempfile.TemporaryDirectory(prefix="motorec-tok-") as tmp:
            for name, data in files.items():
                (Path(tmp) / name).write_bytes(data)
            self.tok = load_tokenizer(tmp, expected_version=version, device=device)

    def __call__(self, table: pa.Table) -> pa.Table:
        x = vectors_from_arrow(table.column("vector"))  # (B, D)
        codes = self.tok.encode(x).astype(np.int32)  # (B, L)
        n, levels = codes.shape
        offsets = pa.array(np.arange(0, (n + 1) * levels, levels, dtype=np.int32))
        values = pa.ListArray.from_arrays(offsets, pa.array(codes.reshape(-1)))
        return pa.Table.from_arrays([pc.cast(table.column("item_id"), pa.string()), values], schema=CODES_SCHEMA)


def artifact_files(directory: Path) -> dict[str, bytes]:
    """A tokenizer artifact's files by name (small: config, weights, stats)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def collect(ds, folder: Path) -> int:
    """Run a dataset and write its non-empty output blocks as Parquet parts in `folder`; returns rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for i, batch in enumerate(ds.iter_batches(batch_size=None, batch_format="pyarrow")):
        if batch.num_rows:
            pq.write_table(batch, folder / f"part-{i:06d}.parquet")
            rows += batch.num_rows
    return rows


def parquet_glob(folder: Path) -> str | None:
    """The part files in `folder` as a quoted SQL string for read_parquet() (None when there are none)."""
    return str(folder / "*.parquet").replace("'", "''") if any(folder.glob("*.parquet")) else None


def write_parts(reader: pa.RecordBatchReader, folder: Path) -> int:
    """Write each batch of a reader as one Parquet part file (the parts become Ray read tasks); returns rows."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    for i, batch in enumerate(reader):
        if batch.num_rows:
            pq.write_table(pa.Table.from_batches([batch]), folder / f"part-{i:06d}.parquet")
            rows += batch.num_rows
    return rows
