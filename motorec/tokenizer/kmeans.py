"""k-means with faiss: codebook initialisation for the RQ-VAE and the RQ-KMeans baseline.

Two flavours of Lloyd's algorithm:
- progressive-dimension k-means (default; what `faiss.ResidualQuantizer` trains each level with):
  PCA-rotate, cluster on the first few principal directions, then on exponentially more of them, each
  stage starting from the previous centroids;
- plain k-means from randomly drawn points.

Why the default is progressive: on the residuals of later levels (nearly isotropic in a high dimension)
plain k-means from random points settles in a degenerate optimum where one centroid near the origin
takes almost every point and the others hold a handful each. On MiniLM vectors of MovieLens-100k (K=64,
L=3) plain k-means gave a level-3 perplexity of 4 of 64, a collision rate of 0.44 and MSE 0.572;
progressive k-means gives 61, 0.04 and 0.520, matching `faiss.ResidualQuantizer` (0.524). Singleton
clusters (exactly-zero residuals) were not the cause: only 1 and 5 items had zero residuals at levels 2
and 3.

Shapes: N points, E dims, K centroids.
"""

from __future__ import annotations

import faiss
import numpy as np

from motorec.errors import InputError


def kmeans(
    x: np.ndarray,
    k: int,
    *,
    iters: int = 25,
    seed: int = 0,
    max_points: int | None = None,
    progressive: bool = True,
) -> np.ndarray:
    """Lloyd's k-means (faiss) with a fixed seed; returns centroids (K, E) float32.

    Args:
        x: (N, E) points; N must be >= K.
        k: number of centroids K.
        iters: Lloyd iterations (per dimension stage when progressive).
        seed: faiss seed (initial centroids and subsampling), so the result is reproducible.
        max_points: subsample to at most this many points (faiss draws them with `seed`).
        progressive: progressive-dimension k-means on PCA-rotated points (see the module docstring);
            plain k-means when N < E, where the rotation is not defined.
    """
    n, dim = x.shape
    if n < k:
        raise InputError(f"k-means needs at least K={k} points, got N={n}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    per_centroid = max(1, (max_points or n) // k)
    # faiss's PCA rotation needs at least as many points as dimensions (it cannot output D directions
    # from fewer points); below that, plain k-means
    if progressive and 1 < dim <= n:
        clus = faiss.ProgressiveDimClustering(dim, k)
        clus.niter, clus.seed, clus.verbose = iters, seed, False
        clus.max_points_per_centroid, clus.min_points_per_centroid = per_centroid, 1
        clus.train(n, faiss.swig_ptr(x), faiss.ProgressiveDimIndexFactory())
        return faiss.vector_to_array(clus.centroids).reshape(k, dim).astype(np.float32)  # (K, E)
    km = faiss.Kmeans(
        dim, k, niter=iters, seed=seed, verbose=False, max_points_per_centroid=per_centroid, min_points_per_centroid=1
    )
    km.train(x)
    return np.ascontiguousarray(km.centroids, dtype=np.float32)  # (K, E)


def residual_kmeans(
    x: np.ndarray,
    levels: int,
    k: int,
    *,
    iters: int = 25,
    seed: int = 0,
    max_points: int | None = None,
    progressive: bool = True,
) -> list[np.ndarray]:
    """Residual k-means: level l clusters what levels < l left unexplained.

    Returns L codebooks, each (K, E) float32; the residual after each level uses greedy nearest-centroid
    assignment (the same rule `encode` uses).
    """
    residual = np.ascontiguousarray(x, dtype=np.float32)
    books = []
    for level in range(levels):
        centroids = kmeans(residual, k, iters=iters, seed=seed + level, max_points=max_points, progressive=progressive)
        index = faiss.IndexFlatL2(centroids.shape[1])
        index.add(centroids)
        _, idx = index.search(residual, 1)  # (N, 1)
        residual = residual - centroids[idx[:, 0]]
        books.append(centroids)
    return books
