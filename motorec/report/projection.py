"""2-D projection of item code embeddings: each item's quantised vector rebuilt from its stored codes.

The vector of an item is the sum of its codebook entries over the levels (the quantised latent `z_q`
that the tokenizer's decoder reads), computed by the tokenizer artifact itself; PCA through numpy's SVD
maps the vectors to two dimensions. Artifacts are only read, never written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motorec.errors import MotorecError
from motorec.report.data import TAU

MAX_POINTS = 20_000  # a larger catalog is subsampled (deterministically) before plotting


@dataclass
class Projection:
    """Points (N, 2) with the degree of each item, and the share of variance the two axes explain."""

    points: np.ndarray
    degree: np.ndarray
    explained: tuple[float, float]
    total_items: int


def code_vectors(artifact_dir: Path, codes: np.ndarray) -> np.ndarray:
    """Quantised vectors (N, E) of codes (N, L) according to the tokenizer artifact in `artifact_dir`."""
    import torch

    from motorec.tokenizer import load_tokenizer

    tok = load_tokenizer(artifact_dir)
    out = []
    with torch.inference_mode():
        for start in range(0, len(codes), 8192):
            chunk = torch.from_numpy(np.ascontiguousarray(codes[start : start + 8192], dtype=np.int64))
            out.append(tok._lookup(chunk).cpu().numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), dtype=np.float32)


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Project x (N, E) on its first two principal components; returns (N, 2) and explained shares."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0, keepdims=True)
    if centred.shape[0] < 2 or not np.any(centred):
        return np.zeros((x.shape[0], 2)), (0.0, 0.0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:2]
    pts = centred @ comps.T
    if pts.shape[1] < 2:  # a 1-D latent
        pts = np.hstack([pts, np.zeros((pts.shape[0], 2 - pts.shape[1]))])
    var = s**2
    share = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    explained = (float(share[0]), float(share[1]) if len(share) > 1 else 0.0)
    return pts, explained


def project(store_dir: Path, modality: str, version: str, codes: np.ndarray, degree: np.ndarray) -> Projection:
    """Project a version's items; raises MotorecError when the artifact cannot be read."""
    artifact = Path(store_dir) / "tokenizers" / modality / version
    if not artifact.is_dir():
        raise MotorecError(f"tokenizer artifact {artifact} is missing")
    total = len(codes)
    if total > MAX_POINTS:
        keep = np.sort(np.random.default_rng(0).choice(total, MAX_POINTS, replace=False))
        codes, degree = codes[keep], degree[keep]
    vectors = code_vectors(artifact, codes)
    pts, explained = pca_2d(vectors)
    return Projection(points=pts, degree=degree, explained=explained, total_items=total)


def buckets(degree: np.ndarray) -> dict[str, np.ndarray]:
    """Masks of cold (0 interactions), long-tail (1..TAU-1) and warm (>= TAU) items."""
    return {
        "cold": degree == 0,
        "long_tail": (degree > 0) & (degree < TAU),
        "warm": degree >= TAU,
    }
