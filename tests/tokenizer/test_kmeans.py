import numpy as np

from motorec.tokenizer.health import usage_entropy
from motorec.tokenizer.kmeans import kmeans


def test_progressive_kmeans_avoids_the_catch_all_cluster_on_isotropic_points():
    # late-level residuals look like this: nearly isotropic in a high dimension. Plain k-means from random
    # points leaves one centroid near the origin that takes a large share; progressive-dimension k-means
    # (faiss's residual-quantiser training) keeps usage near uniform
    x = np.random.default_rng(0).standard_normal((1000, 128)).astype(np.float32)

    def perplexity(centroids):
        idx = ((x**2).sum(1)[:, None] - 2 * x @ centroids.T + (centroids**2).sum(1)).argmin(1)
        return float(np.exp(usage_entropy(idx, 32)))

    plain = perplexity(kmeans(x, 32, seed=0, progressive=False))
    progressive = perplexity(kmeans(x, 32, seed=0, progressive=True))
    assert progressive > 0.9 * 32 and progressive > plain + 5, (plain, progressive)
