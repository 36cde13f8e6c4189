"""Warm / long-tail / strict-cold metrics of the trained recommender beside the baselines.

Baselines: ContentKNN, popularity and LightGCN (the ID-only switch of the same model), on the demo's
split (used by `make demo`).
"""

from __future__ import annotations

import argparse
import sys

from motorec.config import load_config
from motorec.configbase import replace
from motorec.recommender.service import evaluate_split


def lightgcn(cfg, split_dir: str):
    """Train the ID-only model (content="none") on the checkpoint's graph, early-stopped on the split's
    validation interactions; cold items have no trained ID, so it cannot rank them."""

    def make(ckpt, items):
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from motorec.recommender.train import fit

        va = pq.read_table(f"{split_dir}/valid.parquet", columns=["user_id", "item_id"])
        va = va.filter(pc.is_in(va.column("item_id").cast(items.ids.type), value_set=items.ids))
        va = va.filter(pc.is_in(va.column("user_id").cast(ckpt.users.ids.type), value_set=ckpt.users.ids))
        valid = (ckpt.users.lookup(va.column("user_id").cast(ckpt.users.ids.type)),
                 items.lookup(va.column("item_id").cast(items.ids.type)))
        rc = replace(cfg.recommender, content="none")
        res = fit(ckpt.train, len(ckpt.users), len(items), {}, rc, valid=valid, progress=False)
        return res.scorer().score

    return make


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--store", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--config")
    args = ap.parse_args()
    cfg = load_config(args.config)
    table = evaluate_split(args.split, args.store, config=cfg, extra_scorers={"lightgcn": lightgcn(cfg, args.split)})
    rows = table.to_pylist()
    models = list(dict.fromkeys(r["model"] for r in rows))
    settings = ["warm", "long_tail", "strict_cold", "all"]
    value = {(r["model"], r["setting"], r["metric"], r["k"]): r["value"] for r in rows}
    head = "".join(f"{s + ' R@20':>17}{'N@20':>8}" for s in settings)
    print(f"\n{'model':<12}{head}")
    for m in models:
        cells = "".join(f"{value[(m, s, 'recall', 20)]:>17.4f}{value[(m, s, 'ndcg', 20)]:>8.4f}" for s in settings)
        print(f"{m:<12}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
