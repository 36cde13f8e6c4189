"""Per-modality code assignment inside a tokenize run.

Fit a new tokenizer version when needed, encode the items that need codes, number collision suffixes,
and measure churn against the previous version.

Glossary: N items, D input dim, L levels, K codebook size.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from motorec.config import MotorecConfig
from motorec.configbase import to_dict
from motorec.pipeline.store import Store, fetch_arrow, fetch_batches, now, vectors_from_arrow
from motorec.tokenizer import assign_suffixes, code_health, fit, load_tokenizer, save_tokenizer, tokenizer_version
from motorec.tokenizer.artifact import load_stats

log = logging.getLogger(__name__)

MODALITY_LETTER = {"text": "t", "image": "i", "clip_text": "c"}


def codes_from_arrow(column: pa.ChunkedArray, levels: int) -> np.ndarray:
    """A list<int> code column as an (N, L) int64 matrix."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return arr.flatten().to_numpy(zero_copy_only=False).astype(np.int64).reshape(len(arr), levels)


def sid_strings(modality: str, codes: np.ndarray, suffix: np.ndarray) -> pa.StringArray:
    """Readable ids such as '<t1_12><t2_201><t3_7>' (plus '<t#2>' when the suffix is > 0), built columnar."""
    p = MODALITY_LETTER.get(modality, modality[:1])
    parts: list = []
    for lv in range(codes.shape[1]):
        parts += [f"<{p}{lv + 1}_", pa.array(codes[:, lv]).cast(pa.string()), ">"]
    suffix = pa.array(np.asarray(suffix, dtype=np.int64))
    tail = pc.if_else(pc.greater(suffix, 0), pc.binary_join_element_wise(f"<{p}#", suffix.cast(pa.string()), ">", ""),
                      "")
    return pc.binary_join_element_wise(*parts, tail, "")


def codes_to_arrow(codes: np.ndarray) -> pa.ListArray:
    """An (N, L) code matrix as a list<int32> column, without a Python list per row."""
    n, levels = codes.shape
    offsets = pa.array(np.arange(0, (n + 1) * levels, levels, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(codes, dtype=np.int32).reshape(-1)))


def sort_by_id(ids: pa.Array | pa.ChunkedArray, codes: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """Rows ordered by item_id: (ids (N,), codes (N, L))."""
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    order = pc.sort_indices(ids)
    return ids.take(order), codes[order.to_numpy()]


def churn(old: np.ndarray, new: np.ndarray) -> dict:
    """Share of items whose code changed per level, and share agreeing on each prefix length; (N, L) each."""
    if len(old) == 0:
        return {"items": 0, "changed_per_level": [], "prefix_agreement": []}
    levels = min(old.shape[1], new.shape[1])
    same = old[:, :levels] == new[:, :levels]  # (N, L)
    return {
        "items": int(len(old)),
        "changed_per_level": [round(float(1 - same[:, lv].mean()), 6) for lv in range(levels)],
        "prefix_agreement": [round(float(same[:, : lv + 1].all(1).mean()), 6) for lv in range(levels)],
    }


@dataclass
class ModalityResult:
    """What happened to one modality in a run, plus the rows its commit writes."""

    modality: str
    version: str
    created: bool
    previous: str | None
    encoded: int
    health: dict
    churn: dict | None = None
    _codes: pa.Table | None = field(default=None, repr=False)
    _version_row: list | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {"version": self.version, "created": self.created, "previous": self.previous,
                "encoded": self.encoded, "health": self.health, "churn": self.churn}

    def commit(self, con, run_id: int) -> None:
        """Write this modality's version and codes (inside the run's transaction)."""
        if self._version_row is not None:
            con.execute("UPDATE t_tokenizer_versions SET is_current = false WHERE modality = ?", [self.modality])
            con.execute("INSERT OR REPLACE INTO t_tokenizer_versions VALUES (?, ?, ?, ?, ?, ?, ?, true, ?, ?)",
                        [*self._version_row, run_id])
        # items whose content for this modality changed and now failed: their old codes are stale
        con.execute("DELETE FROM t_item_codes c WHERE c.modality = $m AND c.version = $v AND EXISTS (SELECT 1 FROM "
                    "run_items r WHERE r.item_id = c.item_id AND r.modality = $m AND r.status = 'failed')",
                    {"m": self.modality, "v": self.version})
        if self._codes is not None and self._codes.num_rows:
            con.register("_codes", self._codes)
            try:
                con.execute("INSERT OR REPLACE INTO t_item_codes SELECT item_id, $m, $v, codes, suffix, sid, $run "
                            "FROM _codes", {"m": self.modality, "v": self.version, "run": run_id})
            finally:
                con.unregister("_codes")


def _fit_sample(st: Store, modality: str, n: int, batch_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The fit sample: up to n of the run's items, in md5(item_id) order; returns (vectors (S, D), degrees (S,)).

    The sample is drawn on the narrow (item_id, content_hash) rows and each sampled item's rank in md5 order is
    kept; vectors are then streamed unordered and written to their rank's row. DuckDB never sorts vectors.
    """
    con = st.con
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fit_sample AS SELECT item_id, encoder_id, content_hash, "
        "row_number() OVER (ORDER BY md5(item_id)) - 1 AS rank FROM (SELECT item_id, encoder_id, content_hash "
        "FROM run_items WHERE modality = $m AND status = 'ok' ORDER BY md5(item_id) LIMIT $n)",
        {"m": modality, "n": n})
    size = con.execute("SELECT count(*) FROM fit_sample").fetchone()[0]
    reader = fetch_batches(
        con, "SELECT s.rank, e.vector, COALESCE(d.degree, 0) AS degree FROM fit_sample s "
        "JOIN t_embeddings e ON e.encoder_id = s.encoder_id AND e.content_hash = s.content_hash "
        "LEFT JOIN (SELECT item_id, count(*) AS degree FROM t_interactions GROUP BY item_id) d USING (item_id)",
        {}, batch_rows)
    x = np.zeros((0, 0), np.float32)  # (S, D) once the first batch gives D
    degrees = np.zeros(size, np.int64)  # (S,)
    for batch in reader:
        rank = batch.column(0).to_numpy()  # (B,)
        vectors = vectors_from_arrow(batch.column(1))  # (B, D)
        if not x.size:
            x = np.empty((size, vectors.shape[1]), np.float32)
        x[rank] = vectors
        degrees[rank] = batch.column(2).to_numpy()
    con.execute("DROP TABLE fit_sample")
    pa.default_memory_pool().release_unused()  # the pool keeps freed batches cached (~140 MB at 1M): not for fit
    return x, degrees


def _fit_version(st: Store, modality: str, cfg: MotorecConfig, progress: bool):
    """Fit a tokenizer on a deterministic sample of this run's items; returns (tokenizer, version, stats)."""
    x, degrees = _fit_sample(st, modality, cfg.store.fit_sample_items, cfg.store.encode_batch_rows)
    has_interactions = st.con.execute("SELECT count(*) > 0 FROM t_interactions").fetchone()[0]
    tok, stats = fit(x, degrees if has_interactions else None, cfg.tokenizer, progress=progress, overwrite=True)
    del x  # standardised in place by fit; not used again
    version = tokenizer_version(tok)
    target = st.tokenizer_dir(modality, version)
    if target.exists():  # identical tokenizer saved by an earlier (possibly killed) run
        tok = load_tokenizer(target, expected_version=version, device=cfg.tokenizer.device)
        return tok, version, load_stats(target)
    save_tokenizer(tok, stats, target)
    return tok, version, load_stats(target)


# Vectors are joined on the run's own encoder_id column (r.encoder_id, one value per modality), not on a
# constant: DuckDB then estimates the cache side as the whole t_embeddings table and builds its hash table on
# the narrow run side. With `e.encoder_id = $enc` it built it on (content_hash, vector) rows: 1.5 GB at 1M.

# the items of a run that still need codes in an existing version $v: none yet, or changed content
NEEDS_CODES = (
    "AND (NOT EXISTS (SELECT 1 FROM t_item_codes c WHERE c.item_id = r.item_id AND c.modality = $m AND "
    "c.version = $v) OR EXISTS (SELECT 1 FROM t_item_content t WHERE t.item_id = r.item_id AND "
    "t.modality = $m AND t.content_hash <> r.content_hash))")


def local_rows(st: Store, modality: str, version: str, cond: str, params: dict, cfg: MotorecConfig, tok,
               progress: bool) -> tuple[pa.Array, np.ndarray]:
    """Encode the run's items selected by `cond` in this process, streaming vectors from the cache.

    Returns item ids (sorted) and their codes (N, L) int32. The vector stream is read unordered (sorting
    it would make DuckDB sort every selected vector); only the narrow (id, codes) result is sorted.
    """
    con = st.con
    n_todo = con.execute(f"SELECT count(*) FROM run_items r WHERE r.modality = $m AND r.status = 'ok' {cond}",
                         params).fetchone()[0]
    reader = fetch_batches(
        con, "SELECT r.item_id, e.vector FROM run_items r JOIN t_embeddings e ON e.encoder_id = r.encoder_id AND "
        f"e.content_hash = r.content_hash WHERE r.modality = $m AND r.status = 'ok' {cond}",
        params, cfg.store.encode_batch_rows)
    ids: list[pa.Array] = []
    chunks: list[np.ndarray] = []
    with tqdm(total=n_todo, desc=f"encode {modality}", disable=not progress, leave=False) as bar:
        for batch in reader:
            # copied: the columns of a batch read from DuckDB are freed together, so keeping the id column itself
            # would keep every batch's vectors alive until the end (+1.5 GB at 1M items)
            ids.append(pa.concat_arrays([batch.column(0)]))
            chunks.append(tok.encode(vectors_from_arrow(batch.column(1))).astype(np.int32))  # (B, L)
            bar.update(batch.num_rows)
    if not chunks:
        return pa.array([], pa.string()), np.zeros((0, tok.levels), np.int32)
    return sort_by_id(pa.concat_arrays(ids), np.concatenate(chunks))  # (N,), (N, L)


def _warn_if_config_moved(modality: str, version: str, fitted: dict, configured: dict) -> None:
    """Say so when the configured tokenizer differs from the one the current version was fitted with.

    New items keep being coded by the current version (codes stay comparable); only --retrain fits one
    with the new settings. `device` is where it runs, not what it is, and is not compared.
    """
    moved = sorted(k for k in configured if k != "device" and fitted.get(k) != configured[k])
    if moved:
        diff = ", ".join(f"{k} {fitted.get(k)!r} -> {configured[k]!r}" for k in moved)
        log.warning("%s: the configured tokenizer differs from current version %s (%s); it keeps coding with "
                    "%s until `motorec tokenize --retrain`", modality, version, diff, version)


def encode_modality(st: Store, run_id: int, modality: str, encoder_id: str, cfg: MotorecConfig, retrain: bool,
                    progress: bool, *, rows=local_rows) -> ModalityResult:
    """Decide the version, encode the items that need codes, and prepare the rows to commit.

    `rows` does the encoding (`local_rows` here; the Ray engine passes one that runs on an actor pool).
    """
    con = st.con
    current = st.current_version(modality)
    if retrain or current is None:
        tok, version, stats = _fit_version(st, modality, cfg, progress)
        created = version != current
    else:
        version, created = current, False
        tok = load_tokenizer(st.tokenizer_dir(modality, current), expected_version=current,
                             device=cfg.tokenizer.device)
        stats = load_stats(st.tokenizer_dir(modality, current))
        _warn_if_config_moved(modality, current, to_dict(tok.config), to_dict(cfg.tokenizer))
    cond = "" if created else NEEDS_CODES
    params = {"m": modality} | ({} if created else {"v": version})
    ids, codes = rows(st, modality, version, cond, params, cfg, tok, progress)
    if len(ids) == 0:
        ids, codes = pa.array([], pa.string()), np.zeros((0, tok.levels), np.int32)
    existing = None
    if not created:
        old = fetch_arrow(con.execute(
            "SELECT item_id, codes, suffix FROM t_item_codes WHERE modality = $m AND version = $v",
            {"m": modality, "v": version}))
        existing = (old.column(0), codes_from_arrow(old.column(1), tok.levels), old.column(2).to_numpy())
    suffix = assign_suffixes(ids, codes, existing) if len(ids) else np.zeros(0, np.int64)
    code_table = pa.table({
        "item_id": ids.cast(pa.string()),
        "codes": codes_to_arrow(codes),
        "suffix": pa.array(suffix.astype(np.int32)),
        "sid": sid_strings(modality, codes, suffix),
    })
    result = ModalityResult(modality, version, created, current, len(ids), stats.get("health", {}),
                            _codes=code_table)
    if created:
        full = code_health(codes.astype(np.int64), tok.codebook_size) if len(ids) else None
        stats = {**stats, "catalog_health": full.to_dict() if full else None, "encoder_id": encoder_id}
        result._version_row = [version, modality, now(), tok.levels, tok.codebook_size,
                               json.dumps(to_dict(tok.config)), json.dumps(stats), current]
        if current is not None:
            old = fetch_arrow(con.execute(
                "SELECT item_id, codes FROM t_item_codes WHERE modality = $m AND version = $v ORDER BY item_id",
                {"m": modality, "v": current}))
            # items coded in both versions, in item_id order
            at_new = np.full(old.num_rows, -1)
            if len(ids):
                at_new = pc.fill_null(pc.index_in(old.column(0), value_set=ids), -1).to_numpy()
            keep = np.flatnonzero(at_new >= 0)
            result.churn = churn(codes_from_arrow(old.column(1), -1)[keep], codes[at_new[keep]])
    return result
