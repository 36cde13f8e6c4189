"""`motorec tokenize --engine ray`: the tokenize job with its heavy stages on Ray Data (DESIGN.md "Scale-out").

The catalog may be one Parquet file, a directory of part files or a glob. Flow:

1. validate every part on the driver (as the local engine does), plan modalities, resolve encoder ids;
2. Ray: content hashes of every row and vectors for the content the cache lacks -> `<store>/staging/<run>/
   embed`; hashes fill the run's temp tables, vectors are appended to the embedding cache (committed on
   their own, like the local engine's per-batch cache writes);
3. per modality: fit on the driver when needed (same deterministic sample), Ray encodes the items that
   need codes -> `staging/<run>/codes_<modality>`; suffixes and churn on the driver;
4. one transaction registers items, content, codes, versions, errors and the run, then Parquet exports.

The staging folder is removed afterwards. Same catalog + same tokenizer version => the same codes as the
local engine (tests/pipeline/test_ray_engine.py). On a cluster (`address`), workers must be able to read the
catalog paths and import motorec; their results stream back to the driver, so the store stays local.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np

from motorec.config import MotorecConfig
from motorec.errors import ConfigError, InputError
from motorec.pipeline.catalog import CatalogInfo, iter_catalog, needed_columns, plan_modalities, validate_catalog
from motorec.pipeline.embed import Embedders
from motorec.pipeline.engines.ray_codes import encode_modality_ray
from motorec.pipeline.engines.ray_stages import EmbedActor, collect, hash_column, parquet_glob
from motorec.pipeline.inputs import content_hashes
from motorec.pipeline.job import RUN_TABLES, TokenizeSummary, _id_type, assign_and_commit
from motorec.pipeline.store import Store, resolve_store

INSTALL_HINT = '--engine ray needs Ray, which is not installed: pip install "motorec[ray]"'
LOCAL_CPUS_ENV = "MOTOREC_RAY_NUM_CPUS"  # CPUs of an in-process Ray (default 2)
WORKERS_ENV = "MOTOREC_RAY_WORKERS"  # actors per stage (default: the cluster's CPUs, at most 8)


def import_ray():
    """`ray` and `ray.data`, or ConfigError saying how to install them."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(INSTALL_HINT) from exc
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, progress: bool = False):
    """Use the running Ray, else start one (in-process, or connected to `address`); stop only what we started."""
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(num_cpus=int(os.environ.get(LOCAL_CPUS_ENV, "2")), include_dashboard=False,
                     log_to_driver=False, logging_level="ERROR")
    logging.getLogger("ray.data").setLevel(logging.INFO if progress else logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
    ctx.print_on_execution_start = False
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def actor_resources(ray) -> tuple[int, float]:
    """(actors per stage, CPUs per actor): the actors leave one CPU to Ray Data's read tasks."""
    cpus = max(1.0, float(ray.cluster_resources().get("CPU", 1)))
    workers = int(os.environ.get(WORKERS_ENV) or min(8, cpus))
    return max(1, workers), max(0.1, round((cpus - 1) / max(1, workers), 2))


def catalog_paths(catalog: str | Path) -> list[Path]:
    """The Parquet files of a catalog given as a file, a directory of part files or a glob."""
    text = str(catalog)
    if glob.has_magic(text):
        paths = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    elif Path(text).is_dir():
        paths = sorted(p for p in Path(text).rglob("*.parquet") if p.is_file())
    else:
        return [Path(text)]  # validate_catalog reports a missing file
    if not paths:
        raise InputError(f"{catalog}: no Parquet files found")
    return paths


def validate_parts(paths: list[Path], batch_rows: int) -> CatalogInfo:
    """Validate each part like the local engine; parts must agree on columns and feature dimensions."""
    infos = [validate_catalog(p, batch_rows) for p in paths]
    first = infos[0]
    dims = dict(first.feature_dims)
    for info in infos[1:]:
        if info.columns != first.columns:
            raise InputError(f"{info.path}: its columns differ from those of {first.path}")
        for col, dim in info.feature_dims.items():
            if dims[col] is not None and dim is not None and dim != dims[col]:
                raise InputError(f"{info.path}: column {col!r} has dimension {dim}, {first.path} has {dims[col]}")
            dims[col] = dims[col] if dims[col] is not None else dim
    if first.num_rows == 0 or sum(i.num_rows for i in infos) == 0:
        raise InputError(f"{first.path}: the catalog is empty")
    return replace(first, num_rows=sum(i.num_rows for i in infos), feature_dims=dims)


def tokenize_ray(
    catalog: str | Path,
    store: str | Path | None = None,
    config: MotorecConfig | None = None,
    *,
    retrain: bool = False,
    retry_failed: bool = False,
    wait_s: float = 0.0,
    progress: bool = True,
    address: str | None = None,
) -> TokenizeSummary:
    """Run the tokenize job with Ray Data stages; same contract and result as `motorec.pipeline.job.tokenize`."""
    import_ray()
    cfg = config or MotorecConfig()
    start = time.perf_counter()
    paths = catalog_paths(catalog)
    info = validate_parts(paths, cfg.pipeline.read_batch_rows)
    plan = plan_modalities(info, cfg.pipeline)
    if not plan:
        raise InputError(f"{catalog}: no modality to tokenize (no text columns for the template, no image, "
                         "no feat_<modality> column)")
    catalog_ref = paths[0] if len(paths) == 1 else paths[0].parent / "_"  # relative images: the parts' folder
    embedders = Embedders(cfg.pipeline, catalog_ref)
    encoder_ids = {p.modality: embedders.encoder_id(p) for p in plan}  # loads models: fails before any write
    with ray_session(address, progress) as ray, Store.open(resolve_store(store), wait_s=wait_s,
                                                           memory_limit=cfg.store.memory_limit) as st:
        stored_type = st.get_meta("item_id_type")
        if stored_type is not None and stored_type != _id_type(info):
            raise InputError(f"{catalog}: item_id is {_id_type(info)} but this store holds {stored_type} ids")
        staging = st.root / "staging" / uuid.uuid4().hex
        job = _RayJob(ray, st, info, paths, plan, embedders, encoder_ids, cfg, staging)
        try:
            job.embed_stage(retry_failed)  # raises InputError on duplicate ids across parts, before any write
            run_id = st.begin_run("tokenize")
            try:
                job.register_embeddings(retry_failed)
                summary = job.assign_and_commit(run_id, retrain, progress)
            except BaseException:
                st.finish_run(run_id, "failed", {})
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                staging.parent.rmdir()  # only when empty
        summary.seconds = time.perf_counter() - start
        st.export_codes()
        return summary


class _RayJob:
    def __init__(self, ray, st, info, paths, plan, embedders, encoder_ids, cfg, staging: Path):
        self.ray, self.st, self.con, self.info, self.paths, self.plan = ray, st, st.con, info, paths, plan
        self.embedders, self.encoder_ids, self.cfg, self.staging = embedders, encoder_ids, cfg, staging
        self.workers, self.actor_cpus = actor_resources(ray)
        self.gpu = 1 if cfg.pipeline.device.startswith("cuda") else 0
        self.src = ""

    def _skip(self, retry_failed: bool) -> dict[str, np.ndarray]:
        """Map modality -> sorted uint64 prefixes of the hashes not to embed: cached, or failed earlier."""
        out = {}
        for p in self.plan:
            failed = "" if retry_failed else (
                "UNION ALL SELECT content_hash FROM t_item_content WHERE status = 'failed' AND modality = $m")
            keys = self.con.execute(
                "SELECT DISTINCT ('0x' || substr(content_hash, 1, 16))::UBIGINT AS k FROM (SELECT content_hash FROM "
                f"t_embeddings WHERE encoder_id = $enc {failed}) ORDER BY k",
                {"enc": self.encoder_ids[p.modality]} | ({} if retry_failed else {"m": p.modality})).fetchnumpy()
            out[p.modality] = keys["k"].astype(np.uint64)
        return out

    def embed_stage(self, retry_failed: bool) -> None:
        """Ray: hashes of every row and vectors for new content; rows into run_catalog and run_items."""
        con, cfg = self.con, self.cfg
        columns = needed_columns(self.plan, cfg.pipeline, self.info)
        has_title = "title" in self.info.columns.text
        if has_title and "title" not in columns:
            columns.append("title")
        ds = self.ray.data.read_parquet([str(p) for p in self.paths]).select_columns(columns).map_batches(
            EmbedActor, fn_constructor_kwargs={
                "cfg": cfg.pipeline, "catalog_path": str(self.embedders.image_root / "_"), "plan": self.plan,
                "has_title": has_title, "skip": self.ray.put(self._skip(retry_failed))},
            batch_size=cfg.pipeline.read_batch_rows, batch_format="pyarrow",
            compute=self.ray.data.ActorPoolStrategy(min_size=1, max_size=self.workers),
            num_cpus=0 if self.gpu else self.actor_cpus, num_gpus=self.gpu)
        folder = self.staging / "embed"
        collect(ds, folder)
        con.execute(RUN_TABLES)
        self.src = src = f"read_parquet('{parquet_glob(folder)}')"
        con.execute(f"INSERT INTO run_catalog SELECT item_id, title, item_hash FROM {src} WHERE kind = 'item'")
        for p in self.plan:
            con.execute(f"INSERT INTO run_items SELECT item_id, $m, {hash_column(p.modality)}, $enc, 'ok' "
                        f"FROM {src} WHERE kind = 'item' AND {hash_column(p.modality)} IS NOT NULL",
                        {"m": p.modality, "enc": self.encoder_ids[p.modality]})
        dups = con.execute("SELECT item_id FROM run_catalog GROUP BY item_id HAVING count(*) > 1 ORDER BY item_id "
                           "LIMIT 4").fetchall()
        if dups:
            shown = ", ".join(repr(d[0]) for d in dups[:3]) + (" and more" if len(dups) > 3 else "")
            raise InputError(f"{self.paths[0].parent}: column 'item_id' has duplicate ids across parts: {shown}")

    def register_embeddings(self, retry_failed: bool) -> None:
        """Append the new vectors to the cache, embed any leftovers here, mark failed items and their errors."""
        con, src = self.con, self.src
        con.execute("CREATE OR REPLACE TEMP TABLE run_encoders (modality VARCHAR, encoder_id VARCHAR)")
        con.executemany("INSERT INTO run_encoders VALUES (?, ?)", list(self.encoder_ids.items()))
        with self.st.transaction():
            con.execute("INSERT INTO t_embeddings SELECT x.encoder_id, s.content_hash, any_value(s.vector) "
                        f"FROM {src} s JOIN run_encoders x USING (modality) WHERE s.kind = 'vector' AND s.reason IS "
                        "NULL AND NOT EXISTS (SELECT 1 FROM t_embeddings t WHERE t.encoder_id = x.encoder_id AND "
                        "t.content_hash = s.content_hash) GROUP BY ALL")
        con.execute("CREATE OR REPLACE TEMP TABLE run_failed AS SELECT modality, content_hash, any_value(reason) AS "
                    f"reason FROM {src} WHERE kind = 'vector' AND reason IS NOT NULL GROUP BY ALL")
        known = "" if retry_failed else (
            "AND NOT EXISTS (SELECT 1 FROM t_item_content c WHERE c.status = 'failed' AND c.modality = r.modality "
            "AND c.content_hash = r.content_hash)")
        left = con.execute(
            "SELECT DISTINCT r.modality, r.content_hash FROM run_items r WHERE NOT EXISTS (SELECT 1 FROM "
            "t_embeddings e WHERE e.encoder_id = r.encoder_id AND e.content_hash = r.content_hash) AND NOT EXISTS "
            f"(SELECT 1 FROM run_failed f WHERE f.modality = r.modality AND f.content_hash = r.content_hash) {known}"
        ).fetchall()
        if left:
            embed_leftovers(self.st, self.info, self.paths, self.plan, self.embedders, self.encoder_ids, self.cfg,
                            left)
        con.execute("INSERT INTO run_errors SELECT r.item_id, r.modality, 'embed', f.reason FROM run_items r "
                    "JOIN run_failed f USING (modality, content_hash)")
        if not retry_failed:  # failed in an earlier run and not retried: failed again, without a new error
            con.execute("INSERT INTO run_failed SELECT DISTINCT modality, content_hash, NULL FROM t_item_content "
                        "WHERE status = 'failed'")
        con.execute("UPDATE run_items r SET status = 'failed' FROM run_failed f WHERE f.modality = r.modality "
                    "AND f.content_hash = r.content_hash AND NOT EXISTS (SELECT 1 FROM t_embeddings e WHERE "
                    "e.encoder_id = r.encoder_id AND e.content_hash = r.content_hash)")

    def assign_and_commit(self, run_id: int, retrain: bool, progress: bool) -> TokenizeSummary:
        encode = functools.partial(encode_modality_ray, staging=self.staging, workers=self.workers,
                                   cpus=self.actor_cpus)
        return assign_and_commit(self.st, run_id, self.info, self.plan, self.encoder_ids, self.cfg, retrain,
                                 progress, encode=encode)


def embed_leftovers(st, info, paths, plan, embedders, encoder_ids, cfg, left) -> None:
    """Embed on the driver the content hashes the Ray stage skipped (64-bit prefix collisions: rare)."""
    wanted = {(m, h) for m, h in left}
    for path in paths:
        for batch in iter_catalog(replace(info, path=path), needed_columns(plan, cfg.pipeline, info),
                                  cfg.pipeline.read_batch_rows):
            hashes = content_hashes(batch, plan, cfg.pipeline.text_template, embedders.image_root)
            for source in plan:
                h = hashes[source.modality]
                first = {h[r]: r for r in reversed(range(len(h))) if (source.modality, h[r]) in wanted}
                if not first:
                    continue
                out = embedders.embed(source, batch, sorted(first.values()))
                st.put_embeddings(encoder_ids[source.modality], [h[r] for r in out.rows], out.vectors)
                for r, reason in out.errors:
                    st.con.execute("INSERT INTO run_failed VALUES (?, ?, ?)", [source.modality, h[r], reason])
                wanted -= {(source.modality, x) for x in first}
