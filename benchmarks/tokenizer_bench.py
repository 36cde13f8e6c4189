"""Tokenizer benchmark (issue 2 item 4): one run, one table.

Datasets: (a) all-MiniLM-L6-v2 vectors of the 1,682 MovieLens-100k movies (text "title (year)\\nGenres: ...")
and (b) N synthetic 384-d vectors with a two-level cluster structure (default N = 200,000).
Methods: our RQ-VAE with its defaults (codebook-loss updates), without the sparsity term, and with EMA
codebook updates instead; our RQ-KMeans; and `faiss.ResidualQuantizer` with the same L and K and
max_beam_size = 1 (greedy residual encoding, the same work as ours). Everything else is RQVAEConfig's
defaults (L=3, E=64, ...), with the step cap given below.

Protocol:
- MovieLens: quality on all items (fit and measure in-sample: what the catalog's codes are), plus a
  second fit on a seeded 90% of the items whose reconstruction is measured on the other 10% ("held-out
  MSE": what a new item gets). Fit time and peak memory are those of the all-items fit.
- Synthetic: one fit on a seeded 90%; in-sample metrics on those items, held-out MSE on the other 10%,
  encode throughput over all N.
- MSE is per dimension in the standardised space of the fitting data (every method sees the same
  standardised inputs; faiss is trained on them directly).
- Each method runs in its own subprocess. Peak memory is VmHWM of that process after /proc/self/clear_refs
  resets it once the data are loaded, minus the resident size at that moment: it sees torch and faiss
  allocations, which tracemalloc does not.
- Encode throughput: best of `--repeats` timed passes over the whole set (ours: numpy in, codes out,
  standardisation included; faiss: compute_codes on already standardised inputs).
- Matmul bound: peak float32 GFLOP/s of a 2048 x 2048 @ 2048 x 2048 torch matmul at the same thread
  count, divided by the multiply-add FLOPs of our encode per item: 2 * (D*H + H*E [+ D*E skip path])
  for the encoder MLP plus 2 * L * K * E for the greedy residual search (elementwise work ignored).

Usage: python benchmarks/tokenizer_bench.py --data data/ml-100k [--ml-vectors /tmp/ml_vecs.npy]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["rqvae", "rqvae-nosparse", "rqvae-ema", "rqkmeans", "faiss-rq"]
LABELS = {
    "rqvae": "RQ-VAE (ours, defaults)",
    "rqvae-nosparse": "RQ-VAE, no sparsity term",
    "rqvae-ema": "RQ-VAE, EMA codebooks",
    "rqkmeans": "RQ-KMeans (ours)",
    "faiss-rq": "faiss RQ, beam 1",
}


# ---------------------------------------------------------------------------------------------- data
def movielens_vectors(data_dir: Path, cache_dir: Path, given: Path | None) -> np.ndarray:
    """MiniLM vectors (1682, 384) of the movies in catalog order (or the `given` .npy file)."""
    from _minilm import minilm_vectors, movie_texts

    from motorec.datasets import load_ml100k

    texts = movie_texts(load_ml100k(data_dir).catalog)
    if given is not None:
        vecs = np.load(given)
        if vecs.shape != (len(texts), 384):
            raise SystemExit(f"{given} has shape {vecs.shape}, expected ({len(texts)}, 384)")
        return vecs.astype(np.float32)
    return minilm_vectors(texts, cache_dir)


def synthetic_vectors(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 unit vectors: 256 coarse clusters of 16 sub-clusters each, plus isotropic noise.

    Cluster sizes are skewed (Zipf), as in real catalogs; that skew alone gives a spectrum like sentence
    embeddings': after standardisation the top 32 / 64 / 128 principal directions hold 54% / 66% / 80% of
    the variance (MiniLM vectors of MovieLens: 50% / 67% / 86%).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.standard_normal((256, dim), dtype=np.float32)
    fine = 0.5 * rng.standard_normal((256 * 16, dim), dtype=np.float32)
    c = rng.zipf(1.3, n) % 256
    f = c * 16 + rng.integers(0, 16, n)
    x = coarse[c] + fine[f]
    x += 0.35 * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def split(n: int, seed: int = 123) -> tuple[np.ndarray, np.ndarray]:
    """Seeded 90/10 split of range(n): (train, test) index arrays."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n // 10 :]), np.sort(perm[: n // 10])


# ------------------------------------------------------------------------------------- measurement
def _status(field: str) -> float:
    """A /proc/self/status field in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> float:
    """Reset VmHWM to the current RSS (Linux clear_refs "5"); returns the RSS it starts from."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return _status("VmHWM")  # cannot reset: the delta is then against the earlier peak
    return _status("VmRSS")


def matmul_peak_gflops(threads: int, size: int = 2048, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of a size x size matmul with torch at `threads` threads."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    c = torch.empty(size, size)
    torch.mm(a, b, out=c)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        best = max(best, 2.0 * size**3 / (time.perf_counter() - t) / 1e9)
    return best


def encode_flops_per_item(input_dim: int, config) -> int:
    """Multiply-add FLOPs of our RQ-VAE encode for one item (see the module docstring)."""
    dims = [input_dim, *config.hidden_dims, config.latent_dim]
    mlp = sum(2 * a * b for a, b in zip(dims[:-1], dims[1:], strict=True))
    skip = 2 * input_dim * config.latent_dim if config.skip else 0
    return mlp + skip + 2 * config.levels * config.codebook_size * config.latent_dim


def _unpack_faiss_codes(packed: np.ndarray, levels: int, nbits: int) -> np.ndarray:
    """faiss packs the L codes of nbits each LSB-first into bytes; (N, bytes) uint8 -> (N, L) int64."""
    value = np.zeros(len(packed), dtype=np.uint64)
    for b in range(packed.shape[1]):
        value |= packed[:, b].astype(np.uint64) << np.uint64(8 * b)
    mask = np.uint64((1 << nbits) - 1)
    return np.stack([((value >> np.uint64(nbits * lv)) & mask).astype(np.int64) for lv in range(levels)], 1)


def _standardization(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # the same statistics `motorec.tokenizer.fit` uses
    mean = x.mean(0, dtype=np.float64).astype(np.float32)
    std = np.maximum(x.std(0, dtype=np.float64).astype(np.float32), 1e-6)
    return mean, std


class _FaissRQ:
    """`faiss.ResidualQuantizer` (max_beam_size=1) on standardised inputs, with our encode/decode shape."""

    def __init__(self, x: np.ndarray, levels: int, k: int, seed: int):
        import faiss

        self.mean, self.std = _standardization(x)
        self.nbits, self.levels = int(np.log2(k)), levels
        self.rq = faiss.ResidualQuantizer(x.shape[1], levels, self.nbits)
        self.rq.max_beam_size = 1
        self.rq.cp.seed = seed
        self.rq.train(np.ascontiguousarray(self.standardize(x)))

    def standardize(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)

    def encode_std(self, x_std: np.ndarray) -> np.ndarray:
        return self.rq.compute_codes(x_std)

    def codes(self, x: np.ndarray) -> np.ndarray:
        return _unpack_faiss_codes(self.encode_std(self.standardize(x)), self.levels, self.nbits)

    def recon_std(self, x: np.ndarray) -> np.ndarray:
        return self.rq.decode(self.encode_std(self.standardize(x)))


def _fit(method: str, x: np.ndarray, cfg):
    """Fit one method on x; returns (model, fit seconds)."""
    from motorec.tokenizer import fit

    start = time.perf_counter()
    if method == "faiss-rq":
        model = _FaissRQ(x, cfg.levels, cfg.codebook_size, cfg.seed)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # K not well below N on MovieLens: known
            model, _ = fit(x, config=cfg, progress=False)
    return model, time.perf_counter() - start


def _quality(method: str, model, x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, float]:
    """Codes of x and its reconstruction MSE in the standardised space of (mean, std)."""
    if method == "faiss-rq":
        codes, recon_std = model.codes(x), model.recon_std(x)
    else:
        codes = model.encode(x)
        recon_std = (model.decode(codes) - mean) / std
    return codes, float((((x - mean) / std - recon_std) ** 2).mean())


def worker(spec: dict) -> dict:
    """Run one (dataset, method) cell in this process and return its row."""
    import faiss
    import torch

    from motorec.tokenizer import RQVAEConfig
    from motorec.tokenizer.health import code_health

    torch.set_num_threads(spec["threads"])
    faiss.omp_set_num_threads(spec["threads"])
    if spec["dataset"] == "movielens":
        x = np.load(spec["ml_vectors"])
    else:
        x = synthetic_vectors(spec["n"])
    train, test = split(len(x))
    method = spec["method"]
    cfg = RQVAEConfig(
        levels=spec["levels"],
        codebook_size=spec["k"],
        max_steps=spec["max_steps"],
        method="rqkmeans" if method == "rqkmeans" else "rqvae",
        sparsity=method != "rqvae-nosparse",
        codebook_update="ema" if method == "rqvae-ema" else "loss",
    )
    fit_rows = np.arange(len(x)) if spec["dataset"] == "movielens" else train
    base = _reset_peak()
    model, fit_seconds = _fit(method, x[fit_rows], cfg)
    peak = _status("VmHWM") - base
    mean, std = _standardization(x[fit_rows])
    codes, mse = _quality(method, model, x[fit_rows], mean, std)
    health = code_health(codes, spec["k"])
    # items whose tuple is shared only because their vectors are identical: no tokenizer can split them
    _, vec_group = np.unique(x[fit_rows], axis=0, return_inverse=True)
    _, tup_group = np.unique(codes, axis=0, return_inverse=True)
    distinct_per_tuple = np.bincount(tup_group.reshape(-1), minlength=tup_group.max() + 1)
    pairs = np.unique(np.stack([tup_group.reshape(-1), vec_group.reshape(-1)], 1), axis=0)
    distinct_vecs = np.bincount(pairs[:, 0], minlength=len(distinct_per_tuple))
    separable = float((distinct_vecs[tup_group.reshape(-1)] > 1).mean())
    if spec["dataset"] == "movielens":
        held, _ = _fit(method, x[train], cfg)
        m2, s2 = _standardization(x[train])
        heldout = _quality(method, held, x[test], m2, s2)[1]
    else:
        heldout = _quality(method, model, x[test], mean, std)[1]
    # encode throughput over every item
    if method == "faiss-rq":
        xs = model.standardize(x)
        run = lambda: model.encode_std(xs)  # noqa: E731
    else:
        run = lambda: model.encode(x)  # noqa: E731
    run()
    best = min(_timed(run) for _ in range(spec["repeats"]))
    row = {
        "dataset": spec["dataset"],
        "method": method,
        "n": len(x),
        "n_fit": len(fit_rows),
        "fit_s": fit_seconds,
        "encode_per_s": len(x) / best,
        "peak_mib": peak,
        "utilisation": list(health.utilisation),
        "perplexity": list(health.perplexity),
        "collision": health.collision_rate,
        "collision_separable": separable,
        "mse": mse,
        "heldout_mse": heldout,
    }
    if method.startswith("rqvae"):
        row["flops_per_item"] = encode_flops_per_item(x.shape[1], cfg)
    return row


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------- report
def table(rows: list[dict]) -> str:
    head = (
        "| data | method | fit s | encode items/s | peak MiB | utilisation / level | perplexity / level "
        "| collision (separable) | MSE in-sample | MSE held-out |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        util = " / ".join(f"{u:.2f}" for u in r["utilisation"])
        perp = " / ".join(f"{p:.0f}" for p in r["perplexity"])
        data = "MovieLens" if r["dataset"] == "movielens" else f"synthetic {r['n'] // 1000}k"
        lines.append(
            f"| {data} | {LABELS[r['method']]} | {r['fit_s']:.1f} | {r['encode_per_s']:,.0f} | "
            f"{r['peak_mib']:.0f} | {util} | {perp} | {r['collision']:.3f} ({r['collision_separable']:.3f}) "
            f"| {r['mse']:.3f} | {r['heldout_mse']:.3f} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/ml-100k", help="MovieLens-100k folder")
    ap.add_argument("--ml-vectors", type=Path, help="precomputed MiniLM vectors (1682, 384) in catalog order")
    ap.add_argument("--ml-k", type=int, default=64, help="codebook size K on MovieLens")
    ap.add_argument("--synthetic-n", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=256, help="codebook size K on the synthetic set")
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--ml-max-steps", type=int, default=3000, help="RQ-VAE step cap on MovieLens")
    ap.add_argument("--synthetic-max-steps", type=int, default=600, help="RQ-VAE step cap on the synthetic set")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--repeats", type=int, default=3, help="timed encode passes (best is reported)")
    ap.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    ap.add_argument("--datasets", nargs="+", default=["movielens", "synthetic"], choices=["movielens", "synthetic"])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer.md")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    started = time.perf_counter()
    cache = ROOT / "data" / "cache"
    ml_path = None
    if "movielens" in args.datasets:
        vecs = movielens_vectors(Path(args.data), cache, args.ml_vectors)
        key = hashlib.sha256(vecs.tobytes()).hexdigest()[:16]
        ml_path = cache / f"minilm-vectors-{key}.npy"
        if not ml_path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            np.save(ml_path, vecs)
        _, counts = np.unique(vecs, axis=0, return_counts=True)
        identical = int(counts[counts > 1].sum())
        print(
            f"MovieLens: {len(vecs)} vectors; {identical} items ({identical / len(vecs):.2%}) in "
            f"{int((counts > 1).sum())} groups of exactly identical vectors (duplicate movies)",
            flush=True,
        )
    peak = matmul_peak_gflops(args.threads)
    print(f"peak float32 matmul: {peak:.1f} GFLOP/s at {args.threads} threads", flush=True)
    rows = []
    for dataset in args.datasets:
        for method in args.methods:
            spec = {
                "dataset": dataset,
                "method": method,
                "threads": args.threads,
                "repeats": args.repeats,
                "levels": args.levels,
                "ml_vectors": str(ml_path),
                "n": args.synthetic_n,
                "k": args.ml_k if dataset == "movielens" else args.k,
                "max_steps": args.ml_max_steps if dataset == "movielens" else args.synthetic_max_steps,
            }
            t = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--worker", json.dumps(spec)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            if out.returncode != 0:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"worker {dataset}/{method} failed")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {dataset:<9} {method:<15} done in {time.perf_counter() - t:.0f}s", flush=True)
    peak_after = matmul_peak_gflops(args.threads)
    peak = max(peak, peak_after)

    md = [
        "# Tokenizer benchmark\n",
        f"`python benchmarks/tokenizer_bench.py` on {platform.processor() or platform.machine()}, "
        f"{args.threads} threads, L={args.levels}; K={args.ml_k} on MovieLens, K={args.k} on the synthetic set; "
        f"RQ-VAE step cap {args.ml_max_steps} (MovieLens) / {args.synthetic_max_steps} (synthetic). "
        f"Total {time.perf_counter() - started:.0f}s.\n",
        table(rows),
        "",
    ]
    md.append(
        "Collision: share of items whose full code tuple is shared; in brackets, only tuples shared by items "
        "whose vectors differ (exactly identical vectors cannot be split by any tokenizer). MSE: per dimension "
        "in the standardised space of the fitting data. See the script's docstring for the protocol.\n"
    )
    if ml_path is not None:
        md.append(
            f"MovieLens-100k has {identical} items ({identical / 1682:.2%}) in groups of exactly identical "
            "vectors (the same movie listed twice): the floor of the collision rate.\n"
        )
    synth = {r["method"]: r for r in rows if r["dataset"] == "synthetic"}
    if "rqvae" in synth:
        ours = synth["rqvae"]
        bound = peak * 1e9 / ours["flops_per_item"]
        md.append(
            f"Matmul bound (synthetic, L={args.levels}, K={args.k}): peak {peak:.1f} GFLOP/s (best of 2048^3 "
            f"torch matmuls before and after the run) / {ours['flops_per_item']:,} FLOPs per item = "
            f"{bound:,.0f} items/s; our encode {ours['encode_per_s']:,.0f} items/s = "
            f"{ours['encode_per_s'] / bound:.0%} of the bound."
        )
        if "faiss-rq" in synth:
            f = synth["faiss-rq"]["encode_per_s"]
            md.append(
                f" faiss.ResidualQuantizer.compute_codes (beam 1): {f:,.0f} items/s; ours / faiss = "
                f"{ours['encode_per_s'] / f:.2f}.\n"
            )
    text = "\n".join(md)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
