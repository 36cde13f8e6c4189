"""The store: one DuckDB database, tokenizer artifacts and Parquet exports (DESIGN.md "The store").

Layout::

    <store>/motorec.duckdb                     tables t_*, views items, item_codes, current_codes, ...
    <store>/lock                               flock held by the running job
    <store>/tokenizers/<modality>/<version>/   immutable tokenizer artifacts
    <store>/codes/<modality>/<version>.parquet every code table, exported after each run
    <store>/current_codes.parquet              codes of each modality's current version

Writes: each run's changes to the database are one transaction; Parquet exports and artifacts are
written to a temporary name and renamed. The embedding cache (t_embeddings) is committed batch by batch
as vectors are computed: it is keyed by content, so a killed run's vectors are reused, never wrong.
Opening a store writes nothing unless needed (creating or upgrading the schema, whose digest is kept in
t_meta; marking a killed run 'aborted'; deleting a killed run's temporary files), so a run that then
fails on bad input leaves every file of the store byte-identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from motorec.atomic import atomic_path
from motorec.errors import InputError, StoreError
from motorec.pipeline.lock import StoreLock
from motorec.sql.surface import create_code_views, ensure_schema, schema_sql

DEFAULT_STORE = "motorec-store"
STORE_ENV = "MOTOREC_STORE"
DB_NAME = "motorec.duckdb"


def resolve_store(path: str | os.PathLike | None) -> Path:
    """--store, else $MOTOREC_STORE, else ./motorec-store."""
    return Path(path or os.environ.get(STORE_ENV) or DEFAULT_STORE)


def fetch_arrow(result: duckdb.DuckDBPyConnection) -> pa.Table:
    """The pending result as a pyarrow Table (duckdb 2.x `to_arrow_table`, 1.x `fetch_arrow_table`)."""
    fn = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    with warnings.catch_warnings():  # duckdb 2 warns about the copy a DB-API result costs; it is small here
        warnings.simplefilter("ignore", UserWarning)
        return fn()


def fetch_batches(con: duckdb.DuckDBPyConnection, sql: str, params: dict, rows: int) -> pa.RecordBatchReader:
    """A query's result streamed as record batches of about `rows` rows.

    Through a relation: duckdb 2's `execute()` materialises the whole result before the first batch (measured:
    +2.4 GB RSS for 1M 384-d vectors), a relation's reader pulls it chunk by chunk (+0.1 GB beyond the buffer
    pool). Nothing else may run on `con` until the reader is exhausted.
    """
    if hasattr(con, "complete"):  # duckdb 2: finish a result read with fetchone(), or sql() refuses to run
        con.complete()
    rel = con.sql(sql, params=params)
    fn = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader  # duckdb 2.x, 1.x
    return fn(rows)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def vectors_from_arrow(column: pa.ChunkedArray | pa.Array, dim: int | None = None) -> np.ndarray:
    """A list<float> column as a dense (N, D) float32 matrix."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(arr)
    if n == 0:
        return np.zeros((0, dim or 0), dtype=np.float32)
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if not flat.flags.writeable:  # a zero-copy view of Arrow memory; torch.from_numpy warns on those
        flat = flat.copy()
    return flat.reshape(n, -1)


def vectors_to_arrow(vectors: np.ndarray) -> pa.Array:
    """(N, D) float32 -> list<float> array."""
    n, d = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1)))


SCHEMA_KEY = "schema_sha256"
_SCHEMA_SHA = hashlib.sha256(schema_sql().encode()).hexdigest()


def _stored_schema(con: duckdb.DuckDBPyConnection) -> str | None:
    """The schema digest recorded in t_meta (None for a new or older store)."""
    try:
        row = con.execute("SELECT value FROM t_meta WHERE key = ?", [SCHEMA_KEY]).fetchone()
    except duckdb.CatalogException:
        return None
    return row[0] if row else None


def _remove_stale_temporaries(root: Path) -> None:
    """Delete the temporary files and folders a killed run left beside its exports and artifacts.

    `motorec.atomic` writes `.<name>.<random>.tmp` beside each target and renames it; a run killed in between
    leaves the temporary behind. Only called with the store lock held, so no live writer owns one.
    """
    folders = [root, *(root / "codes").glob("*"), *(root / "tokenizers").glob("*")]
    for folder in folders:
        if not folder.is_dir():
            continue
        for stale in folder.glob(".*.tmp"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


class Store:
    """An open, locked store. Use `Store.open(path)` as a context manager."""

    def __init__(self, root: Path, con: duckdb.DuckDBPyConnection, lock: StoreLock):
        self.root, self.con, self._lock = root, con, lock

    @classmethod
    def open(cls, root: str | os.PathLike | None = None, *, wait_s: float = 0.0, memory_limit: str = "512MB") -> Store:
        root = resolve_store(root)
        if root.exists() and not root.is_dir():
            raise InputError(f"store path {root} exists and is not a directory")
        root.mkdir(parents=True, exist_ok=True)
        lock = StoreLock(root / "lock", wait_s).acquire()
        con = None
        try:
            _remove_stale_temporaries(root)
            con = duckdb.connect(str(root / DB_NAME))
            con.execute(f"SET memory_limit = '{memory_limit}'")  # validated by StoreConfig
            # the embedding cache grows by one small transaction per catalog batch; DuckDB's default checkpoint
            # every 16 MB of WAL rewrites the table's open row group each time (measured: 150 s of a 200 s embed
            # stage at 1M 384-d vectors). 256 MB keeps the uncheckpointed rows it holds in memory bounded;
            # committed data is durable in the WAL either way.
            con.execute("SET checkpoint_threshold = '256MB'")
            # write nothing unless needed: a run that then fails on bad input leaves the file untouched
            if _stored_schema(con) != _SCHEMA_SHA:
                con.execute("BEGIN")
                ensure_schema(con)
                con.execute("INSERT OR REPLACE INTO t_meta VALUES (?, ?)", [SCHEMA_KEY, _SCHEMA_SHA])
                con.execute("COMMIT")
            # a run that never finished (killed) is discarded: its data transaction never committed
            if con.execute("SELECT count(*) FROM t_runs WHERE status = 'running'").fetchone()[0]:
                con.execute("UPDATE t_runs SET status = 'aborted', finished_at = ? WHERE status = 'running'",
                            [now()])
        except BaseException as exc:
            if con is not None:  # close the database before another run may take the lock
                with contextlib.suppress(duckdb.Error):
                    con.close()
            lock.release()
            if isinstance(exc, duckdb.Error):
                raise StoreError(f"cannot open the store database {root / DB_NAME}: {exc}") from exc
            raise
        return cls(root, con, lock)

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()
        self._lock.release()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transactions, meta and runs -------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All statements inside commit together or not at all."""
        self.con.execute("BEGIN")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.con.execute("SELECT value FROM t_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO t_meta VALUES (?, ?)", [key, value])

    def begin_run(self, command: str) -> int:
        """Record a run as 'running' (committed at once, so a crash leaves a trace); returns run_id."""
        with self.transaction() as con:
            run_id = con.execute("SELECT COALESCE(max(run_id), 0) + 1 FROM t_runs").fetchone()[0]
            con.execute("INSERT INTO t_runs VALUES (?, ?, ?, NULL, 'running', NULL)", [run_id, command, now()])
        return int(run_id)

    def finish_run(self, run_id: int, status: str, counts: dict) -> None:
        """Close a run's row (call inside the run's data transaction for status 'ok')."""
        self.con.execute(
            "UPDATE t_runs SET status = ?, finished_at = ?, counts = ? WHERE run_id = ?",
            [status, now(), json.dumps(counts, default=str), run_id],
        )

    # -- embedding cache --------------------------------------------------------------------------------
    def missing_embeddings(self, encoder_id: str, hashes: list[str]) -> list[str]:
        """The distinct hashes among `hashes` with no cached vector for `encoder_id`, in first-seen order."""
        wanted = list(dict.fromkeys(hashes))
        if not wanted:
            return []
        probe = pa.table({"h": pa.array(wanted, pa.string())})
        self.con.register("_probe", probe)
        try:
            rows = self.con.execute(
                "SELECT p.h FROM _probe p WHERE NOT EXISTS "
                "(SELECT 1 FROM t_embeddings e WHERE e.encoder_id = ? AND e.content_hash = p.h)",
                [encoder_id],
            ).fetchall()
        finally:
            self.con.unregister("_probe")
        missing = {r[0] for r in rows}
        return [h for h in wanted if h in missing]

    def put_embeddings(self, encoder_id: str, hashes: list[str], vectors: np.ndarray) -> None:
        """Add vectors (N, D) to the cache in their own transaction.

        `hashes` must be distinct and not cached yet (a subset of `missing_embeddings`, under the store lock):
        no anti-join against the whole cache per batch, which made filling it quadratic in its size.
        """
        if not hashes:
            return
        table = pa.table({"encoder_id": pa.array([encoder_id] * len(hashes), pa.string()),
                          "content_hash": pa.array(hashes, pa.string()), "vector": vectors_to_arrow(vectors)})
        self.con.register("_emb", table)
        try:
            with self.transaction() as con:
                con.execute("INSERT INTO t_embeddings SELECT * FROM _emb")
        finally:
            self.con.unregister("_emb")

    # -- tokenizer versions -----------------------------------------------------------------------------
    def tokenizer_dir(self, modality: str, version: str) -> Path:
        return self.root / "tokenizers" / modality / version

    def current_version(self, modality: str) -> str | None:
        row = self.con.execute(
            "SELECT version FROM t_tokenizer_versions WHERE modality = ? AND is_current", [modality]
        ).fetchone()
        return row[0] if row else None

    def refresh_views(self) -> None:
        levels = self.con.execute("SELECT COALESCE(max(levels), 0) FROM t_tokenizer_versions").fetchone()[0]
        create_code_views(self.con, int(levels))

    # -- exports ----------------------------------------------------------------------------------------
    def export_codes(self) -> list[Path]:
        """Write every version's code table and the current codes as Parquet (atomic renames)."""
        cast = "CAST(item_id AS BIGINT)" if self.get_meta("item_id_type") == "int64" else "item_id"
        cols = f"{cast} AS item_id, modality, version, codes, suffix, sid"
        written = []
        versions = self.con.execute("SELECT modality, version FROM t_tokenizer_versions ORDER BY 1, 2").fetchall()
        for modality, version in versions:
            target = self.root / "codes" / modality / f"{version}.parquet"
            self._copy_parquet(
                f"SELECT {cols} FROM t_item_codes WHERE modality = $m AND version = $v ORDER BY item_id",
                {"m": modality, "v": version}, target)
            written.append(target)
        target = self.root / "current_codes.parquet"
        self._copy_parquet(
            f"SELECT {cols} FROM t_item_codes c JOIN t_tokenizer_versions v USING (modality, version) "
            "WHERE v.is_current ORDER BY modality, c.item_id", {}, target)
        written.append(target)
        return written

    def _copy_parquet(self, sql: str, params: dict, target: Path) -> None:
        import pyarrow.parquet as pq

        table = fetch_arrow(self.con.execute(sql, params))
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
