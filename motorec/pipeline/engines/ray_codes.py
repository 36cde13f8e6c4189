"""Code assignment for `--engine ray`: `encode_modality`'s contract, with the encoding run by a Ray actor pool.

The version decision, the fit (on the driver, on the same deterministic sample), the set of items that need
codes, suffixes, health and churn follow `motorec.pipeline.encode.encode_modality` step by step; only
`tok.encode` runs on Ray, over the items to encode written as Parquet parts. Glossary: N items, L levels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from motorec.config import MotorecConfig
from motorec.configbase import to_dict
from motorec.pipeline.encode import ModalityResult, _fit_version, churn, codes_from_arrow, sid_strings
from motorec.pipeline.engines.ray_stages import CodeActor, artifact_files, collect, parquet_glob, write_parts
from motorec.pipeline.store import Store, fetch_arrow, fetch_batches, now
from motorec.tokenizer import assign_suffixes, code_health, load_tokenizer
from motorec.tokenizer.artifact import load_stats

# the items of a run that need codes in version $v (when it is not new): as in encode_modality
NEEDS_CODES = (
    "AND (NOT EXISTS (SELECT 1 FROM t_item_codes c WHERE c.item_id = r.item_id AND c.modality = $m AND "
    "c.version = $v) OR EXISTS (SELECT 1 FROM t_item_content t WHERE t.item_id = r.item_id AND "
    "t.modality = $m AND t.content_hash <> r.content_hash))")


def _encode_on_ray(st: Store, modality: str, encoder_id: str, version: str, cond: str, params: dict,
                   cfg: MotorecConfig, staging: Path, workers: int, cpus: float) -> tuple[list[str], np.ndarray]:
    """Codes of the items selected by `cond`, ordered by item_id: (ids (N,), codes (N, L) int32)."""
    import ray.data

    todo, out = staging / f"todo_{modality}", staging / f"codes_{modality}"
    reader = fetch_batches(st.con.execute(
        "SELECT r.item_id, e.vector FROM run_items r JOIN t_embeddings e ON e.encoder_id = $enc AND "
        f"e.content_hash = r.content_hash WHERE r.modality = $m AND r.status = 'ok' {cond}",
        params), cfg.store.encode_batch_rows)
    if not write_parts(reader, todo):
        return [], np.zeros((0, 0), np.int32)
    files = artifact_files(st.tokenizer_dir(modality, version))
    gpu = 1 if cfg.tokenizer.device.startswith("cuda") else 0
    ds = ray.data.read_parquet(str(todo)).map_batches(
        CodeActor, fn_constructor_kwargs={"files": files, "version": version, "device": cfg.tokenizer.device},
        batch_size=cfg.store.encode_batch_rows, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers), num_cpus=0 if gpu else cpus, num_gpus=gpu)
    collect(ds, out)
    table = fetch_arrow(st.con.execute(f"SELECT item_id, codes FROM read_parquet('{parquet_glob(out)}') "
                                       "ORDER BY item_id"))
    return table.column(0).to_pylist(), codes_from_arrow(table.column(1), -1).astype(np.int32)


def encode_modality_ray(st: Store, run_id: int, modality: str, encoder_id: str, cfg: MotorecConfig,
                        retrain: bool, progress: bool, staging: Path, workers: int, cpus: float) -> ModalityResult:
    """Decide the version, encode the items that need codes on Ray, and prepare the rows to commit."""
    con = st.con
    current = st.current_version(modality)
    if retrain or current is None:
        tok, version, stats = _fit_version(st, modality, encoder_id, cfg, progress)
        created = version != current
    else:
        version, created = current, False
        tok = load_tokenizer(st.tokenizer_dir(modality, current), expected_version=current,
                             device=cfg.tokenizer.device)
        stats = load_stats(st.tokenizer_dir(modality, current))
    cond = "" if created else NEEDS_CODES
    params = {"enc": encoder_id, "m": modality} | ({} if created else {"v": version})
    ids, codes = _encode_on_ray(st, modality, encoder_id, version, cond, params, cfg, staging, workers, cpus)
    if not ids:
        codes = np.zeros((0, tok.levels), np.int32)
    existing = None
    if not created:
        old = fetch_arrow(con.execute(
            "SELECT item_id, codes, suffix FROM t_item_codes WHERE modality = $m AND version = $v",
            {"m": modality, "v": version}))
        existing = (old.column(0).to_pylist(), codes_from_arrow(old.column(1), tok.levels), old.column(2).to_numpy())
    suffix = assign_suffixes(ids, codes, existing) if ids else np.zeros(0, np.int64)
    code_table = pa.table({
        "item_id": pa.array(ids, pa.string()),
        "codes": pa.array(codes.tolist(), pa.list_(pa.int32())),
        "suffix": pa.array(suffix.astype(np.int32)),
        "sid": pa.array(sid_strings(modality, codes, suffix), pa.string()),
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
            position = {item: i for i, item in enumerate(ids)}
            keep = [i for i, item in enumerate(old.column(0).to_pylist()) if item in position]
            old_codes = codes_from_arrow(old.column(1), -1)[keep]
            new_codes = codes[[position[old.column(0)[i].as_py()] for i in keep]]
            result.churn = churn(old_codes, new_codes)
    return result
