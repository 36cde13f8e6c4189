"""Throughput of the tokenize pipeline against its bare encoders, and the cost of a nightly run.

One run measures, on this machine's CPU:

(a) text: `motorec.pipeline.job.tokenize`'s embed stage (catalog read, template, content hashes, cache
    look-ups and writes, MiniLM) against bare `SentenceTransformer.encode` on the same rendered texts and
    batch size (target >= 90%). Texts: MovieLens-100k titles and genres, replicated to --text-items
    distinct texts (each copy gets an edition number, so the content cache cannot deduplicate them).
(b) image: the embed stage on generated JPEG files (decoding in DataLoader workers, open_clip forward)
    against a bare open_clip `encode_image` forward on the same images decoded and preprocessed up front
    (target >= 90%). Model: --image-model with random weights (pretrained = "none"); ViT-B-32 by default.
(c) nightly: a first run on a --nightly-items catalog (precomputed 384-d `feat_text` vectors by default, or
    MiniLM text with --nightly-source text), then a run on the same catalog plus 1% new items
    (target <= 5% of the first run's time); the no-op rerun time is shown too.

Bare and pipeline alternate slice by slice (--text-rounds, --image-rounds; each pipeline round is an
incremental run embedding only its new slice), so that changes in the machine's speed hit both alike;
each pipeline figure also reports the share of its embed stage spent inside the model call (timed in the
same runs), which shows the pipeline's own overhead whatever the load from other processes. Prints a
table and writes it to --out.

    python benchmarks/pipeline_bench.py                       # the full run (several minutes on 2 cores)
    python benchmarks/pipeline_bench.py --text-items 500 --image-items 64 --nightly-items 4000   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
# (a), (b): the fit is not part of the measured embed stage; RQ-VAE because faiss' PCA in RQ-KMeans needs N >= D
SMALL_TOKENIZER = {"codebook_size": 16, "levels": 2, "latent_dim": 16, "hidden_dims": [32], "max_steps": 20}


@contextlib.contextmanager
def timed_calls(owner, name: str, acc: list[float]) -> Iterator[None]:
    """Patch `owner.name` so that every call adds its wall time to acc[0]."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            acc[0] += time.perf_counter() - t0

    setattr(owner, name, wrapper)
    try:
        yield
    finally:
        setattr(owner, name, original)


def movielens_texts(n: int) -> pa.Table:
    """n distinct catalog rows from MovieLens-100k (item_id, title, description), replicated as needed."""
    from motorec.datasets import load_ml100k

    base = load_ml100k(ROOT / "data" / "ml-100k").catalog
    ids, titles, descs = (
        base.column("item_id").to_pylist(),
        base.column("title").to_pylist(),
        base.column("description").to_pylist(),
    )
    rows = [
        (
            f"{ids[i % len(ids)]}-{i // len(ids)}",
            titles[i % len(ids)],
            (descs[i % len(ids)] or "") + (f" (edition {i // len(ids)})" if i >= len(ids) else ""),
        )
        for i in range(n)
    ]
    return pa.table(
        {"item_id": [r[0] for r in rows], "title": [r[1] for r in rows], "description": [r[2] for r in rows]}
    )


def _rounds(n: int, rounds: int) -> list[tuple[int, int, bool]]:
    """Split n items into `rounds` slices (lo, hi, bare_first); bare and pipeline alternate which goes first.

    Interleaving the two measurements slice by slice makes changes in the machine's speed (other processes on
    shared CPUs) hit both alike; each pipeline round is an incremental run that embeds only its new slice.
    """
    bounds = np.linspace(0, n, rounds + 1).astype(int)
    return [(int(bounds[r]), int(bounds[r + 1]), r % 2 == 0) for r in range(rounds) if bounds[r + 1] > bounds[r]]


def bench_text(work: Path, n: int, rounds: int) -> dict:
    from motorec.config import load_config
    from motorec.pipeline.inputs import render_texts
    from motorec.pipeline.job import tokenize
    from motorec.pipeline.text import TextEmbedder

    table = movielens_texts(n)
    cfg = load_config(None, tokenizer=SMALL_TOKENIZER, pipeline={"modalities": ["text"]})
    texts = render_texts(pa.RecordBatch.from_pydict(table.to_pydict()), cfg.pipeline.text_template)
    model = TextEmbedder.from_config(cfg.pipeline)._model  # the SentenceTransformer the pipeline uses
    kw = {
        "batch_size": cfg.pipeline.text_batch_size,
        "normalize_embeddings": True,
        "convert_to_numpy": True,
        "show_progress_bar": False,
    }
    model.encode(texts[:128], **kw)  # warm-up
    bare_s = stage_s = run_s = 0.0
    inner = [0.0]
    for lo, hi, bare_first in _rounds(n, rounds):

        def bare(lo=lo, hi=hi) -> float:
            t0 = time.perf_counter()
            model.encode(texts[lo:hi], **kw)
            return time.perf_counter() - t0

        bare_s += bare() if bare_first else 0.0
        pq.write_table(table.slice(0, hi), work / "text.parquet")  # the catalog grows by this round's texts
        with timed_calls(TextEmbedder, "embed", inner):
            s = tokenize(work / "text.parquet", work / "text-store", cfg, progress=False)
        assert s.new == hi - lo, s.counts()
        stage_s, run_s = stage_s + s.stage_seconds["embed"], run_s + s.seconds
        bare_s += 0.0 if bare_first else bare()
    return {"items": n, "bare_s": bare_s, "stage_s": stage_s, "inner_s": inner[0], "run_s": run_s}


def _jpegs(folder: Path, n: int, size: int) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size] / size
    names = []
    for i in range(n):
        a, b, c = rng.random(3)
        base = np.stack([np.sin(6 * a * xx + 3 * b), np.cos(5 * b * yy + 2 * c), np.sin(4 * c * (xx + yy))], -1)
        pixels = ((base * 0.4 + 0.5 + rng.normal(0, 0.05, base.shape)).clip(0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
        names.append(f"img/{i}.jpg")
    return names


def bench_image(work: Path, n: int, model_name: str, size: int, rounds: int) -> dict:
    import open_clip
    import torch
    from PIL import Image

    from motorec.config import load_config
    from motorec.pipeline.image import ImageEmbedder
    from motorec.pipeline.job import tokenize

    names = _jpegs(work / "img", n, size)
    cfg = load_config(
        None,
        tokenizer=SMALL_TOKENIZER,
        pipeline={"modalities": ["image"], "image_model": model_name, "image_pretrained": "none"},
    )
    emb = ImageEmbedder.from_config(cfg.pipeline)
    pixels = torch.stack([emb.transform(Image.open(work / p).convert("RGB")) for p in names])  # (N, 3, H, W)
    bs = cfg.pipeline.image_batch_size

    def bare(lo: int, hi: int) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode():
            for start in range(lo, hi, bs):
                emb._model.encode_image(pixels[start : min(start + bs, hi)], normalize=True)
        return time.perf_counter() - t0

    bare(0, bs)  # warm-up
    bare_s = stage_s = run_s = 0.0
    inner = [0.0]
    table = pa.table({"item_id": [f"p{i}" for i in range(n)], "image": names})
    for lo, hi, bare_first in _rounds(n, rounds):
        bare_s += bare(lo, hi) if bare_first else 0.0
        pq.write_table(table.slice(0, hi), work / "image.parquet")
        with timed_calls(open_clip.model.CLIP, "encode_image", inner):
            s = tokenize(work / "image.parquet", work / "image-store", cfg, progress=False)
        assert s.new == hi - lo and s.failed == 0, s.counts()
        stage_s, run_s = stage_s + s.stage_seconds["embed"], run_s + s.seconds
        bare_s += 0.0 if bare_first else bare(lo, hi)
    return {
        "items": n,
        "bare_s": bare_s,
        "stage_s": stage_s,
        "inner_s": inner[0],
        "run_s": run_s,
        "workers": cfg.pipeline.image_workers,
        "batch": bs,
        "rounds": rounds,
    }


def _nightly_catalogs(work: Path, n: int, new: int, source: str) -> tuple[Path, Path]:
    if source == "text":
        table = movielens_texts(n + new)
    else:
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(64, 384))
        v = centres[rng.integers(0, 64, n + new)] + 0.5 * rng.normal(size=(n + new, 384))
        v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)  # unit vectors, like MiniLM's
        table = pa.table(
            {
                "item_id": [f"item{i:06d}" for i in range(n + new)],
                "title": [f"title {i}" for i in range(n + new)],
                "feat_text": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), 384),
            }
        )
    # the nightly catalog is the full one plus `new` rows, shuffled in (new items are not all at the end)
    order = np.random.default_rng(1).permutation(n + new)
    pq.write_table(table.slice(0, n), work / "nightly-full.parquet")
    pq.write_table(table.take(pa.array(order)), work / "nightly-plus.parquet")
    return work / "nightly-full.parquet", work / "nightly-plus.parquet"


def bench_nightly(work: Path, n: int, new_share: float, source: str, tokenizer: dict) -> dict:
    from motorec.config import load_config
    from motorec.pipeline.job import tokenize

    new = max(1, round(n * new_share))
    full, plus = _nightly_catalogs(work, n, new, source)
    cfg = load_config(None, tokenizer=tokenizer, pipeline={"modalities": ["text"]})
    store = work / "nightly-store"
    first = tokenize(full, store, cfg, progress=False)
    noop = tokenize(full, store, cfg, progress=False)
    nightly = tokenize(plus, store, cfg, progress=False)
    assert (nightly.new, nightly.changed) == (new, 0), nightly.counts()
    assert nightly.modalities["text"].encoded == new
    return {
        "items": n,
        "new": new,
        "first_s": first.seconds,
        "noop_s": noop.seconds,
        "nightly_s": nightly.seconds,
        "first_stages": first.stage_seconds,
        "nightly_stages": nightly.stage_seconds,
    }


def _stages(d: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in d.items())


def report(args, text: dict | None, image: dict | None, nightly: dict | None) -> str:
    import torch

    load = os.getloadavg()
    lines = [
        "# Pipeline benchmark",
        "",
        f"`python benchmarks/pipeline_bench.py {' '.join(sys.argv[1:])}`".replace(" `", "`"),
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{torch.get_num_threads()}, device cpu; load average at the end {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} (1/5/15 min; other processes share the CPUs, so absolute rates are noisy, and the "
        "in-run model share is the steadier ratio).",
        "",
        "| measurement | pipeline | bare / reference | ratio | in-run model share | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    if text:
        r = text["bare_s"] / text["stage_s"]
        lines.append(
            f"| (a) text, {text['items']} MovieLens texts, MiniLM, batch 64 | {text['items'] / text['stage_s']:.1f} "
            f"items/s (embed stage {text['stage_s']:.1f} s, {args.text_rounds} incremental runs) | "
            f"{text['items'] / text['bare_s']:.1f} items/s "
            f"(`SentenceTransformer.encode`) | {r:.0%} | {text['inner_s'] / text['stage_s']:.0%} | >= 90% | "
            f"{'yes' if r >= 0.9 else 'no'} |"
        )
    if image:
        r = image["bare_s"] / image["stage_s"]
        lines.append(
            f"| (b) image, {image['items']} JPEGs {args.image_size}px, {args.image_model} random init, batch "
            f"{image['batch']}, {image['workers']} decode workers | {image['items'] / image['stage_s']:.1f} items/s "
            f"(embed stage {image['stage_s']:.1f} s, {image['rounds']} incremental runs) | "
            f"{image['items'] / image['bare_s']:.1f} items/s (bare "
            f"`encode_image` on pre-decoded tensors) | {r:.0%} | {image['inner_s'] / image['stage_s']:.0%} | "
            f">= 90% | {'yes' if r >= 0.9 else 'no'} |"
        )
    if nightly:
        r = nightly["nightly_s"] / nightly["first_s"]
        lines.append(
            f"| (c) nightly, {nightly['items']} items ({args.nightly_source}) + {nightly['new']} new (1%) | "
            f"{nightly['nightly_s']:.2f} s | {nightly['first_s']:.1f} s (first run) | {r:.1%} | - | <= 5% | "
            f"{'yes' if r <= 0.05 else 'no'} |"
        )
    lines.append("")
    if nightly:
        lines += [
            f"Nightly detail: no-op rerun {nightly['noop_s']:.2f} s; stages of the first run (s): "
            f"{_stages(nightly['first_stages'])}; of the nightly run: {_stages(nightly['nightly_stages'])}. "
            f"Tokenizer for (c): {args.nightly_tokenizer}; (a) and (b) use {SMALL_TOKENIZER} (their fit is not "
            "part of the embed stage).",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text-items", type=int, default=5000)
    ap.add_argument("--text-rounds", type=int, default=5, help="bare/pipeline alternations for (a)")
    ap.add_argument("--image-items", type=int, default=256)
    ap.add_argument("--image-rounds", type=int, default=4, help="bare/pipeline alternations for (b)")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--image-model", default="ViT-B-32")
    ap.add_argument("--nightly-items", type=int, default=20000)
    ap.add_argument("--nightly-new", type=float, default=0.01)
    ap.add_argument("--nightly-source", choices=["feature", "text"], default="feature")
    ap.add_argument(
        "--nightly-tokenizer",
        default="rqkmeans",
        choices=["rqkmeans", "rqvae"],
        help="tokenizer method for (c), with the project's default K=256, L=3",
    )
    ap.add_argument("--skip", default="", help="comma list of parts to skip: text,image,nightly")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pipeline.md")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.disable(logging.WARNING)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="motorec-pipeline-bench-"))
    try:
        text = image = nightly = None
        if "text" not in skip:
            text = bench_text(work, args.text_items, args.text_rounds)
            print("text", text, flush=True)
        if "image" not in skip:
            image = bench_image(work, args.image_items, args.image_model, args.image_size, args.image_rounds)
            print("image", image, flush=True)
        if "nightly" not in skip:
            nightly = bench_nightly(
                work, args.nightly_items, args.nightly_new, args.nightly_source, {"method": args.nightly_tokenizer}
            )
            print("nightly", nightly, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    md = report(args, text, image, nightly)
    print(md)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(md)


if __name__ == "__main__":
    main()
