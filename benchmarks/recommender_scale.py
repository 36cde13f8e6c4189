"""Recommender training at scale: seconds per epoch and peak memory of LightGCN and of our model on synthetic graphs.

Graphs are synthetic: item popularity and user activity follow Zipf-like laws (a few head items, a long tail),
and every item has text codes (3 levels of 256) and a 64-d z_q drawn at random, so the content path does the
same work as on real codes. No validation runs: the numbers are training time only, the first epoch of each run
(warm-up, allocator growth) left out, and the two models alternate (`--rounds`) so that machine load hits both.
On CUDA the peak is `torch.cuda.max_memory_allocated` per model; on CPU the process's peak RSS (VmHWM) so far,
which includes the graph building and every earlier run.

    python benchmarks/recommender_scale.py --device cuda                   # the three default sizes
    python benchmarks/recommender_scale.py --sizes 1000:2000:100000 --epochs 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from motorec.configbase import replace
from motorec.recommender import ModalityInputs, RecommenderConfig, fit

DEFAULT_SIZES = ["1000:2000:100000", "20000:100000:2000000", "100000:1000000:10000000"]


def synthetic_graph(n_users: int, n_items: int, n_inter: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n_inter distinct (user, item) pairs with Zipf-like item popularity and user activity, in random order."""
    if n_inter > n_users * n_items // 2:
        raise ValueError(f"{n_inter} interactions is more than half of {n_users} x {n_items} pairs")
    rng = np.random.default_rng(seed)
    item_p = 1.0 / np.arange(1, n_items + 1) ** 0.8
    user_p = 1.0 / np.arange(1, n_users + 1) ** 0.5
    item_p, user_p = item_p / item_p.sum(), user_p / user_p.sum()
    item_order = rng.permutation(n_items)  # which items are the head
    keys = np.zeros(0, dtype=np.int64)
    while len(keys) < n_inter:  # repeated pairs are dropped, so draw until enough distinct ones
        draw = int((n_inter - len(keys)) * 1.2) + 16
        u = rng.choice(n_users, draw, p=user_p).astype(np.int64)
        i = item_order[rng.choice(n_items, draw, p=item_p)]
        keys = np.unique(np.concatenate([keys, u * n_items + i]))
    keys = rng.permutation(keys)[:n_inter]
    return keys // n_items, keys % n_items


def synthetic_content(n_items: int, seed: int = 0) -> dict[str, ModalityInputs]:
    rng = np.random.default_rng(seed + 1)
    codes = rng.integers(0, 256, (n_items, 3)).astype(np.int64)
    z_q = rng.normal(size=(n_items, 64)).astype(np.float32)
    return {"text": ModalityInputs.from_numpy(codes=codes, z_q=z_q, codebook_size=256)}


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(size: str, device: str, epochs: int, batch_size: int, rounds: int) -> list[dict]:
    """Both models on one graph, alternated `rounds` times so that machine load hits both alike."""
    n_users, n_items, n_inter = (int(x) for x in size.split(":"))
    users, items = synthetic_graph(n_users, n_items, n_inter)
    content = synthetic_content(n_items)
    base = RecommenderConfig(epochs=epochs, batch_size=batch_size, device=device)
    models = (("lightgcn", replace(base, content="none"), {}), ("ours", base, content))
    seconds: dict[str, list[float]] = {name: [] for name, _, _ in models}
    peak: dict[str, float] = {}
    for _ in range(rounds):
        for name, cfg, inputs in models:
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            res = fit((users, items), n_users, n_items, inputs, cfg, progress=False)
            seconds[name] += [h["seconds"] for h in res.history[1:]] or [res.history[0]["seconds"]]
            peak[name] = max(peak.get(name, 0.0), peak_memory_mb(device))
            so_far = float(np.median(seconds[name]))
            print(f"  {size} {name}: {so_far:.2f} s/epoch so far, peak {peak[name]:.0f} MB", flush=True)
            del res
    return [
        {
            "size": size, "interactions": len(users), "model": name, "steps": -(-len(users) // batch_size),
            "s_per_epoch": float(np.median(seconds[name])), "peak_mb": peak[name],
        }
        for name, _, _ in models
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=DEFAULT_SIZES, metavar="USERS:ITEMS:INTERACTIONS")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per model; the first is not counted")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--rounds", type=int, default=1, help="alternating runs of the two models (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=None, help="markdown output (default: print only)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"# recommender training at scale on {where}, batch {args.batch_size}", flush=True)
    rows = [r for size in args.sizes for r in run(size, args.device, args.epochs, args.batch_size, args.rounds)]
    lines = [
        f"# Recommender training at scale ({where})",
        "",
        f"Synthetic Zipf-like graphs, batch size {args.batch_size}; {args.rounds} alternating run(s) of "
        f"{args.epochs} epochs per model, the first epoch of each not counted, median s/epoch; no validation. Peak: "
        + ("`torch.cuda.max_memory_allocated` per model." if cuda else "the process's VmHWM so far (not per model)."),
        "",
        "| users:items:interactions | interactions | steps/epoch | LightGCN s/epoch | ours s/epoch | ratio "
        "| LightGCN peak MB | ours peak MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in args.sizes:
        lg, ours = (next(r for r in rows if r["size"] == size and r["model"] == m) for m in ("lightgcn", "ours"))
        lines.append(
            f"| {size} | {lg['interactions']} | {lg['steps']} | {lg['s_per_epoch']:.3f} | {ours['s_per_epoch']:.3f} "
            f"| {ours['s_per_epoch'] / lg['s_per_epoch']:.2f}x | {lg['peak_mb']:.0f} | {ours['peak_mb']:.0f} |"
        )
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
