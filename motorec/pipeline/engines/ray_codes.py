"""Code assignment for `--engine ray`: `encode_modality`'s contract, with the encoding run by a Ray actor pool.

The version decision, the fit (on the driver, on the same deterministic sample), the set of items that need
codes, suffixes, health and churn are `motorec.pipeline.encode.encode_modality` itself; only `tok.encode`
runs on Ray, over the items to encode written as Parquet parts. Glossary: N items, L levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from motorec.config import MotorecConfig
from motorec.pipeline.encode import ModalityResult, codes_from_arrow, encode_modality
from motorec.pipeline.engines.ray_stages import CodeActor, artifact_files, collect, parquet_glob, write_parts
from motorec.pipeline.store import Store, fetch_arrow, fetch_batches


def _encode_on_ray(st: Store, modality: str, version: str, cond: str, params: dict, cfg: MotorecConfig,
                   staging: Path, workers: int, cpus: float) -> tuple[pa.Array, np.ndarray]:
    """Codes of the items selected by `cond`, ordered by item_id: (ids (N,), codes (N, L) int32)."""
    import ray.data

    todo, out = staging / f"todo_{modality}", staging / f"codes_{modality}"
    reader = fetch_batches(
        st.con, "SELECT r.item_id, e.vector FROM run_items r JOIN t_embeddings e ON e.encoder_id = r.encoder_id AND "
        f"e.content_hash = r.content_hash WHERE r.modality = $m AND r.status = 'ok' {cond}",
        params, cfg.store.encode_batch_rows)
    if not write_parts(reader, todo):
        return pa.array([], pa.string()), np.zeros((0, 0), np.int32)
    files = artifact_files(st.tokenizer_dir(modality, version))
    gpu = 1 if cfg.tokenizer.device.startswith("cuda") else 0
    ds = ray.data.read_parquet(str(todo)).map_batches(
        CodeActor, fn_constructor_kwargs={"files": files, "version": version, "device": cfg.tokenizer.device},
        batch_size=cfg.store.encode_batch_rows, batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers), num_cpus=0 if gpu else cpus, num_gpus=gpu)
    collect(ds, out)
    table = fetch_arrow(st.con.execute(f"SELECT item_id, codes FROM read_parquet('{parquet_glob(out)}') "
                                       "ORDER BY item_id"))
    return table.column(0).combine_chunks(), codes_from_arrow(table.column(1), -1).astype(np.int32)


def encode_modality_ray(st: Store, run_id: int, modality: str, encoder_id: str, cfg: MotorecConfig,
                        retrain: bool, progress: bool, staging: Path, workers: int, cpus: float) -> ModalityResult:
    """`encode_modality` with the encoding run on a Ray actor pool (everything else is shared)."""

    def rows(st, modality, version, cond, params, cfg, tok, progress):
        return _encode_on_ray(st, modality, version, cond, params, cfg, staging, workers, cpus)

    return encode_modality(st, run_id, modality, encoder_id, cfg, retrain, progress, rows=rows)
