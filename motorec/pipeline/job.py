"""`motorec tokenize`: catalog -> embeddings (cached by content) -> codes, versioned in the store.

Incremental contract (STYLE.md §10), per run:
* the cursor is content: an item is new (id unseen), changed (its content hash differs) or unchanged;
* t_embeddings is appended (only vectors the cache lacks are computed);
* t_items and t_item_content are merged on item_id; t_item_codes is merged on (item_id, modality,
  version) for the current version, or filled for a new version (first run, `--retrain`);
* t_tokenizer_versions is appended (versions are immutable), t_errors and t_runs are appended;
* everything but the embedding cache changes in one transaction, so a rerun on the same catalog is a
  no-op and a killed run leaves the previous state (the next run marks it aborted and does the work).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from tqdm.auto import tqdm

from motorec.config import MotorecConfig
from motorec.errors import InputError
from motorec.pipeline.catalog import iter_catalog, needed_columns, plan_modalities, validate_catalog
from motorec.pipeline.embed import Embedders
from motorec.pipeline.encode import ModalityResult, encode_modality
from motorec.pipeline.hashing import item_hash
from motorec.pipeline.inputs import content_hashes
from motorec.pipeline.schemas import ITEM_ID
from motorec.pipeline.store import Store, resolve_store

log = logging.getLogger(__name__)

CRASH_ENV = "MOTOREC_TEST_CRASH_AT"
CRASH_POINTS = ("embed", "fit", "commit", "export")


def _crash_point(name: str) -> None:
    """Test hook: `MOTOREC_TEST_CRASH_AT=<name>` kills this process with SIGKILL at that point of the run.

    Points: "embed" (after the first batch of vectors is cached), "fit" (after every modality's codes are
    computed and new tokenizer artifacts saved, before the transaction), "commit" (inside the run's
    transaction, every row written but not committed), "export" (after the commit, before the Parquet
    exports). Used by tests/pipeline/test_crash.py to prove a kill -9 anywhere leaves a store the next run
    completes; never set it otherwise.
    """
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


RUN_TABLES = """
CREATE OR REPLACE TEMP TABLE run_catalog (item_id VARCHAR, title VARCHAR, item_hash VARCHAR);
CREATE OR REPLACE TEMP TABLE run_items (item_id VARCHAR, modality VARCHAR, content_hash VARCHAR,
                                        encoder_id VARCHAR, status VARCHAR);
CREATE OR REPLACE TEMP TABLE run_errors (item_id VARCHAR, modality VARCHAR, stage VARCHAR, reason VARCHAR);
"""


@dataclass
class TokenizeSummary:
    """What a tokenize run did (printed by the CLI, stored as the run's counts)."""

    run_id: int
    store: Path
    seen: int
    new: int
    changed: int
    unchanged: int
    absent: int
    failed: int
    seconds: float
    modalities: dict[str, ModalityResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # modality -> why it got no tokenizer this run
    stage_seconds: dict[str, float] = field(default_factory=dict)  # prepare, embed, codes, commit, export

    def counts(self) -> dict:
        return {
            "seen": self.seen, "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "absent": self.absent, "failed": self.failed, "seconds": round(self.seconds, 3),
            "modalities": {m: r.to_dict() for m, r in self.modalities.items()},
            **({"skipped": dict(self.skipped)} if self.skipped else {}),
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
        }


def _id_type(info) -> str:
    return "int64" if pa.types.is_integer(info.columns.id_type) else "string"


def tokenize(
    catalog: str | Path,
    store: str | Path | None = None,
    config: MotorecConfig | None = None,
    *,
    retrain: bool = False,
    retry_failed: bool = False,
    wait_s: float = 0.0,
    progress: bool = True,
) -> TokenizeSummary:
    """Run the tokenize job on a catalog Parquet file; see the module docstring for what changes."""
    cfg = config or MotorecConfig()
    start = time.perf_counter()
    # validate everything before the store is touched: bad input leaves it unchanged
    info = validate_catalog(catalog, cfg.pipeline.read_batch_rows)
    if info.num_rows == 0:
        raise InputError(f"{catalog}: the catalog is empty")
    plan = plan_modalities(info, cfg.pipeline)
    if not plan:
        raise InputError(f"{catalog}: no modality to tokenize (no text columns for the template, no image, "
                         "no feat_<modality> column)")
    embedders = Embedders(cfg.pipeline, catalog)
    encoder_ids = {p.modality: embedders.encoder_id(p) for p in plan}  # loads models: fails before any write
    with Store.open(resolve_store(store), wait_s=wait_s, memory_limit=cfg.store.memory_limit) as st:
        # checks that need the store come before the run is recorded, so a failing one leaves it unchanged
        stored_type = st.get_meta("item_id_type")
        if stored_type is not None and stored_type != _id_type(info):
            raise InputError(f"{catalog}: item_id is {_id_type(info)} but this store holds {stored_type} ids")
        fitting = [p.modality for p in plan if retrain or st.current_version(p.modality) is None]
        k = cfg.tokenizer.codebook_size
        if fitting and k > info.num_rows:
            raise InputError(f"{catalog}: {info.num_rows} items cannot fit a tokenizer with codebook_size {k} "
                             f"(modalities {', '.join(fitting)}); lower [tokenizer] codebook_size")
        run_id = st.begin_run("tokenize")
        prepare_s = time.perf_counter() - start  # validation, model loading, opening the store
        try:
            summary = _run(st, run_id, info, plan, embedders, encoder_ids, cfg, retrain, retry_failed, progress)
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # never hide the original error behind a second one
                st.finish_run(run_id, "failed", {})
            raise
        _crash_point("export")
        t0 = time.perf_counter()
        st.export_codes()
        summary.stage_seconds = {"prepare": prepare_s, **summary.stage_seconds, "export": time.perf_counter() - t0}
        summary.seconds = time.perf_counter() - start
        return summary


def _embed_stage(st, info, plan, embedders, encoder_ids, cfg, retry_failed, progress) -> None:
    con = st.con
    known_failed = set()
    if not retry_failed:
        known_failed = set(con.execute(
            "SELECT modality, content_hash FROM t_item_content WHERE status = 'failed'").fetchall())
    columns = needed_columns(plan, cfg.pipeline, info)
    if "title" in info.columns.text and "title" not in columns:
        columns.append("title")
    n_batches = -(-info.num_rows // cfg.pipeline.read_batch_rows)
    for batch in tqdm(iter_catalog(info, columns, cfg.pipeline.read_batch_rows), total=n_batches,
                      desc="embed", disable=not progress, leave=False):
        ids = [str(v) for v in batch.column(ITEM_ID).to_pylist()]
        titles = batch.column("title").to_pylist() if "title" in batch.schema.names else [None] * len(ids)
        hashes = content_hashes(batch, plan, cfg.pipeline.text_template, embedders.image_root)
        items, errors = [], []
        for source in plan:
            m, enc = source.modality, encoder_ids[source.modality]
            h = hashes[m]
            missing = set(st.missing_embeddings(enc, [x for x in h if x is not None]))
            skip = {x for x in missing if (m, x) in known_failed}
            todo = missing - skip
            first_rows = list({h[r]: r for r in reversed(range(len(h))) if h[r] in todo}.values())
            out = embedders.embed(source, batch, sorted(first_rows))
            st.put_embeddings(enc, [h[r] for r in out.rows], out.vectors)
            _crash_point("embed")
            failed = {h[r]: reason for r, reason in out.errors} | {x: "failed in an earlier run" for x in skip}
            for r, x in enumerate(h):
                if x is None:
                    continue
                if x in failed:
                    items.append((ids[r], m, x, enc, "failed"))
                    if x not in skip:
                        errors.append((ids[r], m, "embed", failed[x]))
                else:
                    items.append((ids[r], m, x, enc, "ok"))
        item_hashes = [item_hash({m: hashes[m][r] for m in hashes}) for r in range(len(ids))]
        _append(con, "run_catalog", [ids, titles, item_hashes])
        _append(con, "run_items", list(zip(*items, strict=True)) if items else [])
        _append(con, "run_errors", list(zip(*errors, strict=True)) if errors else [])


def _append(con, table: str, columns: list) -> None:
    """Append string columns to a temp table through Arrow (fast for large batches)."""
    if not columns or not len(columns[0]):
        return
    data = pa.table({f"c{i}": pa.array(list(c), pa.string()) for i, c in enumerate(columns)})
    con.register("_rows", data)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def _run(st: Store, run_id, info, plan, embedders, encoder_ids, cfg, retrain, retry_failed, progress):
    st.con.execute(RUN_TABLES)
    t0 = time.perf_counter()
    _embed_stage(st, info, plan, embedders, encoder_ids, cfg, retry_failed, progress)
    stages = {"embed": time.perf_counter() - t0}
    return assign_and_commit(st, run_id, info, plan, encoder_ids, cfg, retrain, progress, stages=stages)


def assign_and_commit(st: Store, run_id, info, plan, encoder_ids, cfg, retrain, progress, *,
                      encode=encode_modality, stages: dict | None = None) -> TokenizeSummary:
    """Codes for every modality, then the run's one transaction; shared by the local and Ray engines.

    Expects the temp tables run_catalog, run_items and run_errors filled by an embed stage; `encode` has
    `encode_modality`'s signature (the Ray engine passes one that encodes on an actor pool).
    """
    con = st.con
    stages = dict(stages or {})
    t0 = time.perf_counter()
    new, changed, unchanged = con.execute(
        "SELECT count(*) FILTER (t.item_id IS NULL), count(*) FILTER (t.content_hash <> r.item_hash), "
        "count(*) FILTER (t.content_hash = r.item_hash) FROM run_catalog r LEFT JOIN t_items t USING (item_id)"
    ).fetchone()
    absent = con.execute("SELECT count(*) FROM t_items WHERE item_id NOT IN (SELECT item_id FROM run_catalog)"
                         ).fetchone()[0]
    results, skipped = {}, {}
    for p in plan:
        m, k, fit_new = p.modality, cfg.tokenizer.codebook_size, retrain
        current = st.current_version(m)
        if retrain or current is None:
            n_ok = con.execute("SELECT count(*) FROM run_items WHERE modality = ? AND status = 'ok'", [m]).fetchone()[0]
            if n_ok < k:  # e.g. every image failed: keep the run (and its errors) for the other modalities
                why = f"only {n_ok} items could be embedded, fewer than codebook_size {k}"
                if current is None:
                    skipped[m] = f"{why}: no tokenizer fitted (see the errors table)"
                    log.warning("%s: %s", m, skipped[m])
                    continue
                log.warning("%s: %s: not retrained, kept version %s", m, why, current)
                fit_new = False
        results[m] = encode(st, run_id, m, encoder_ids[m], cfg, fit_new, progress)
    stages["codes"] = time.perf_counter() - t0
    _crash_point("fit")
    # items with a modality that could not be embedded, in this run or (not retried) an earlier one
    failed = con.execute("SELECT count(DISTINCT item_id) FROM run_items WHERE status = 'failed'").fetchone()[0]
    summary = TokenizeSummary(run_id, st.root, info.num_rows, new, changed, unchanged, absent, failed, 0.0, results,
                              skipped, stages)
    t0 = time.perf_counter()
    with st.transaction():
        st.set_meta("item_id_type", _id_type(info))
        # only rows that differ are written: rewriting every row of a large catalog costs seconds in DuckDB
        con.execute(
            "INSERT OR REPLACE INTO t_items SELECT r.item_id, r.title, r.item_hash, "
            "COALESCE(t.first_seen_run, $run), CASE WHEN t.content_hash = r.item_hash THEN t.last_changed_run "
            "ELSE $run END FROM run_catalog r LEFT JOIN t_items t USING (item_id) WHERE t.item_id IS NULL OR "
            "t.content_hash IS DISTINCT FROM r.item_hash OR t.title IS DISTINCT FROM r.title", {"run": run_id})
        # modalities an item no longer has (an image removed, say): forget their content and current codes
        con.execute("DELETE FROM t_item_codes c WHERE c.item_id IN (SELECT item_id FROM run_catalog) AND "
                    "c.modality IN (SELECT DISTINCT modality FROM run_items) AND NOT EXISTS (SELECT 1 FROM run_items "
                    "r WHERE r.item_id = c.item_id AND r.modality = c.modality) AND EXISTS (SELECT 1 FROM "
                    "t_tokenizer_versions v WHERE v.modality = c.modality AND v.version = c.version AND v.is_current)")
        con.execute("DELETE FROM t_item_content c WHERE c.item_id IN (SELECT item_id FROM run_catalog) AND "
                    "NOT EXISTS (SELECT 1 FROM run_items r WHERE r.item_id = c.item_id AND r.modality = c.modality)")
        con.execute("INSERT OR REPLACE INTO t_item_content SELECT item_id, modality, content_hash, encoder_id, status "
                    "FROM run_items r WHERE NOT EXISTS (SELECT 1 FROM t_item_content c WHERE c.item_id = r.item_id "
                    "AND c.modality = r.modality AND c.content_hash = r.content_hash AND c.encoder_id = r.encoder_id "
                    "AND c.status = r.status)")
        for result in results.values():
            result.commit(con, run_id)
        con.execute("INSERT INTO t_errors SELECT $run, item_id, modality, stage, reason FROM run_errors",
                    {"run": run_id})
        st.refresh_views()
        st.finish_run(run_id, "ok", summary.counts())
        _crash_point("commit")
    stages["commit"] = time.perf_counter() - t0
    return summary
