"""Scale benchmark: `motorec tokenize` wall time and peak RSS at 10k / 100k / 1M items, local and Ray engines.

Catalogs are synthetic: precomputed 384-d `feat_text` vectors around 512 centres (no text encoder runs), written
in chunks so generating them is bounded in memory. Each tokenize run is a fresh subprocess on a fresh store;
peak RSS is the run process's VmHWM (for Ray: the driver) and, sampled every 0.2 s, the peak summed RSS of the
run's whole process tree (Ray's raylet, GCS and workers included). The tokenizer fit time (on the fit sample,
`[store] fit_sample_items`) is measured separately by wrapping `fit`.

    python benchmarks/scale_bench.py                       # 10k, 100k, 1M; local and ray
    python benchmarks/scale_bench.py --sizes 10000 --engines local
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

DIM = 384
TOKENIZER = {
    "levels": 3,
    "codebook_size": 256,
    "latent_dim": 64,
    "hidden_dims": [256],
    "max_steps": 60,
    "epochs": 50,
    "batch_size": 512,
    "kmeans_sample": 16384,
    "kmeans_iters": 10,
}


def write_catalog(path: Path, n: int, seed: int = 0, chunk: int = 50_000) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(512, DIM)).astype(np.float32)
    schema = pa.schema([("item_id", pa.string()), ("title", pa.string()), ("feat_text", pa.list_(pa.float32()))])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            x = centres[rng.integers(0, 512, m)] + 0.3 * rng.normal(size=(m, DIM)).astype(np.float32)
            offsets = pa.array(np.arange(0, (m + 1) * DIM, DIM, dtype=np.int32))
            vec = pa.ListArray.from_arrays(offsets, pa.array(x.astype(np.float32).reshape(-1)))
            ids = [f"item{k:08d}" for k in range(start, start + m)]
            writer.write_table(
                pa.table(
                    {"item_id": ids, "title": [f"title {k}" for k in range(start, start + m)], "feat_text": vec},
                    schema=schema,
                ),
                row_group_size=chunk,
            )


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def run_one(engine: str, catalog: Path, store: Path) -> dict:
    """Run one tokenize in a subprocess; returns its timings and memory."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", engine, str(catalog), str(store)], stdout=subprocess.PIPE, text=True
    )
    peak = [0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], sum(_rss_kib(p) for p in _tree(proc.pid)))
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    thread.join()
    if proc.returncode:
        return {"error": f"exit {proc.returncode}"}
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mib"] = round(peak[0] / 1024)
    return result


def child(engine: str, catalog: str, store: str) -> None:
    import motorec.pipeline.encode as encode
    from motorec.config import load_config

    fit_s = [0.0]
    real_fit = encode.fit

    def timed_fit(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real_fit(*args, **kwargs)
        finally:
            fit_s[0] += time.perf_counter() - t0

    encode.fit = timed_fit
    cfg = load_config(None, tokenizer=TOKENIZER, pipeline={"text_template": "{title}"})
    t0 = time.perf_counter()
    if engine == "ray":
        os.environ.setdefault("MOTOREC_RAY_WORKERS", "2")
        from motorec.pipeline.engines.ray_engine import tokenize_ray

        summary = tokenize_ray(catalog, store, cfg, progress=False)
    else:
        from motorec.pipeline.job import tokenize

        summary = tokenize(catalog, store, cfg, progress=False)
    wall = time.perf_counter() - t0
    hwm = next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    print(
        json.dumps(
            {
                "wall_s": round(wall, 1),
                "fit_s": round(fit_s[0], 1),
                "rest_s": round(wall - fit_s[0], 1),
                "driver_peak_mib": round(hwm / 1024),
                "encoded": summary.modalities["text"].encoded,
            }
        )
    )


def write_table(rows: list[dict], out: Path) -> None:
    from motorec.config import StoreConfig

    store = StoreConfig()
    lines = [
        "# Scale benchmark: `motorec tokenize`, synthetic 384-d feat_text catalogs",
        "",
        f"Tokenizer: {json.dumps(TOKENIZER)}; fit sample: {store.fit_sample_items:,} items, DuckDB memory_limit "
        f"{store.memory_limit} (`[store]` defaults).",
        "Host: 2 CPU cores shared with other jobs (load varies), no GPU. Ray: in-process, 2 CPUs, 2 actors per "
        "stage. `rest` = wall - fit (validation, hashing, embedding cache, encode, commit, export). "
        "`driver` = VmHWM of the run process; `tree` = peak summed RSS of its process tree, sampled.",
        "",
        "| engine | items | wall s | fit s | rest s | rest µs/item | driver MiB | tree MiB | codes = local |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['engine']} | {r['items']:,} | {r['error']} | | | | | | |")
            continue
        per = r["rest_s"] / r["items"] * 1e6
        lines.append(
            f"| {r['engine']} | {r['items']:,} | {r['wall_s']} | {r['fit_s']} | {r['rest_s']} | {per:.0f} | "
            f"{r['driver_peak_mib']} | {r['tree_peak_mib']} | {r.get('parity', '')} |"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--engines", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/motorec-scale-bench"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.md")
    ap.add_argument("--child", nargs=3, metavar=("ENGINE", "CATALOG", "STORE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    import pyarrow.parquet as pq

    rows = []
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            catalog = args.workdir / f"catalog_{n}.parquet"
            t0 = time.perf_counter()
            write_catalog(catalog, n)
            print(
                f"catalog {n:,}: {catalog.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            for engine in args.engines:
                store = args.workdir / f"store_{engine}_{n}"
                shutil.rmtree(store, ignore_errors=True)
                row = {"engine": engine, "items": n, **run_one(engine, catalog, store)}
                local_codes = args.workdir / f"store_local_{n}" / "current_codes.parquet"
                if engine == "ray" and local_codes.exists() and "error" not in row:
                    row["parity"] = pq.read_table(store / "current_codes.parquet").equals(pq.read_table(local_codes))
                print(json.dumps(row), flush=True)
                rows.append(row)
                write_table(rows, args.out)
            for engine in args.engines:
                shutil.rmtree(args.workdir / f"store_{engine}_{n}", ignore_errors=True)
            catalog.unlink()
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
