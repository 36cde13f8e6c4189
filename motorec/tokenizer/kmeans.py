"""k-means with faiss: codebook initialisation for the RQ-VAE and the RQ-KMeans baseline.

Shapes: N points, E dims, K centroids.
"""

from __future__ import annotations

import faiss
import numpy as np

from motorec.errors import InputError


def kmeans(x: np.ndarray, k: int, *, iters: int = 25, seed: int = 0, max_points: int | None = None) -> np.ndarray:
    """Lloyd's k-means (faiss) with a fixed seed; returns centroids (K, E) float32.

    Args:
        x: (N, E) points; N must be >= K.
        k: number of centroids K.
        iters: Lloyd iterations.
        seed: faiss seed (initial centroids and subsampling), so the result is reproducible.
        max_points: subsample to at most this many points (faiss draws them with `seed`).
    """
    n, dim = x.shape
    if n < k:
        raise InputError(f"k-means needs at least K={k} points, got N={n}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    per_centroid = max(1, (max_points or n) // k)
    km = faiss.Kmeans(dim, k, niter=iters, seed=seed, verbose=False, max_points_per_centroid=per_centroid,
                      min_points_per_centroid=1)
    km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)  # (K, E)


def residual_kmeans(
    x: np.ndarray, levels: int, k: int, *, iters: int = 25, seed: int = 0, max_points: int | None = None
) -> list[np.ndarray]:
    """Residual k-means: level l clusters what levels < l left unexplained.

    Returns L codebooks, each (K, E) float32; the residual after each level uses greedy nearest-centroid
    assignment (the same rule `encode` uses).
    """
    residual = np.ascontiguousarray(x, dtype=np.float32)
    books = []
    for level in range(levels):
        centroids = kmeans(residual, k, iters=iters, seed=seed + level, max_points=max_points)
        index = faiss.IndexFlatL2(centroids.shape[1])
        index.add(centroids)
        _, idx = index.search(residual, 1)  # (N, 1)
        residual = residual - centroids[idx[:, 0]]
        books.append(centroids)
    return books
