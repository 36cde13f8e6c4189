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

import time
from dataclasses import dataclass, field
from pathlib import Path

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

    def counts(self) -> dict:
        return {
            "seen": self.seen, "new": self.new, "changed": self.changed, "unchanged": self.unchanged,
            "absent": self.absent, "failed": self.failed, "seconds": round(self.seconds, 3),
            "modalities": {m: r.to_dict() for m, r in self.modalities.items()},
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
        stored_type = st.get_meta("item_id_type")
        if stored_type is not None and stored_type != _id_type(info):
            raise InputError(f"{catalog}: item_id is {_id_type(info)} but this store holds {stored_type} ids")
        run_id = st.begin_run("tokenize")
        try:
            summary = _run(st, run_id, info, plan, embedders, encoder_ids, cfg, retrain, retry_failed, progress)
        except BaseException:
            st.finish_run(run_id, "failed", {})
            raise
        summary.seconds = time.perf_counter() - start
        st.export_codes()
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
            first_rows = list({h[r]: r for r in reversed(range(len(h))) if h[r] in missing - skip}.values())
            out = embedders.embed(source, batch, sorted(first_rows))
            st.put_embeddings(enc, [h[r] for r in out.rows], out.vectors)
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
    con = st.con
    con.execute(RUN_TABLES)
    _embed_stage(st, info, plan, embedders, encoder_ids, cfg, retry_failed, progress)
    new, changed, unchanged = con.execute(
        "SELECT count(*) FILTER (t.item_id IS NULL), count(*) FILTER (t.content_hash <> r.item_hash), "
        "count(*) FILTER (t.content_hash = r.item_hash) FROM run_catalog r LEFT JOIN t_items t USING (item_id)"
    ).fetchone()
    absent = con.execute("SELECT count(*) FROM t_items WHERE item_id NOT IN (SELECT item_id FROM run_catalog)"
                         ).fetchone()[0]
    results = {p.modality: encode_modality(st, run_id, p.modality, encoder_ids[p.modality], cfg, retrain, progress)
               for p in plan}
    failed = con.execute("SELECT count(DISTINCT item_id) FROM run_errors").fetchone()[0]
    summary = TokenizeSummary(run_id, st.root, info.num_rows, new, changed, unchanged, absent, failed, 0.0, results)
    with st.transaction():
        st.set_meta("item_id_type", _id_type(info))
        con.execute(
            "INSERT OR REPLACE INTO t_items SELECT r.item_id, r.title, r.item_hash, "
            "COALESCE(t.first_seen_run, $run), CASE WHEN t.content_hash = r.item_hash THEN t.last_changed_run "
            "ELSE $run END FROM run_catalog r LEFT JOIN t_items t USING (item_id)", {"run": run_id})
        # modalities an item no longer has: forget their content and current codes
        con.execute("DELETE FROM t_item_content c WHERE c.item_id IN (SELECT item_id FROM run_catalog) AND "
                    "NOT EXISTS (SELECT 1 FROM run_items r WHERE r.item_id = c.item_id AND r.modality = c.modality)")
        con.execute("INSERT OR REPLACE INTO t_item_content SELECT item_id, modality, content_hash, encoder_id, status "
                    "FROM run_items")
        for result in results.values():
            result.commit(con, run_id)
        con.execute("INSERT INTO t_errors SELECT $run, item_id, modality, stage, reason FROM run_errors",
                    {"run": run_id})
        st.refresh_views()
        st.finish_run(run_id, "ok", summary.counts())
    return summary
