import numpy as np

from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.fit import fit
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


def test_fewer_points_than_dimensions_fits_instead_of_failing_in_pca():
    # 100 points in 384-d: faiss's PCA cannot rotate them, so k-means runs unrotated
    x = np.random.default_rng(0).standard_normal((100, 384)).astype(np.float32)
    centroids = kmeans(x, 16, seed=0)
    assert centroids.shape == (16, 384) and np.isfinite(centroids).all()
    assign = ((x[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert len(np.unique(assign)) >= 12  # not collapsed onto a few centroids
    tok, stats = fit(x, config=RQVAEConfig(method="rqkmeans", levels=2, codebook_size=16), progress=False)
    assert tok.encode(x).shape == (100, 2) and stats.health.utilisation[0] > 0.7
