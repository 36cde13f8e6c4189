import faiss
import numpy as np

from motorec.tokenizer import RQVAEConfig, fit


def test_rqkmeans_reconstruction_agrees_with_faiss_residual_quantizer():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(64, 16))[rng.integers(0, 64, 4000)] + 0.3 * rng.normal(size=(4000, 16))).astype(np.float32)
    tok, _ = fit(x, config=RQVAEConfig(method="rqkmeans", levels=2, codebook_size=16, standardize=False),
                 progress=False)
    ours = float(((tok.decode(tok.encode(x)) - x) ** 2).mean())
    rq = faiss.ResidualQuantizer(16, 2, 4)
    rq.max_beam_size = 1
    rq.train(x)
    theirs = float(((rq.decode(rq.compute_codes(x)) - x) ** 2).mean())
    # the same greedy residual k-means: errors within 10% of each other
    assert abs(ours - theirs) / theirs < 0.10, (ours, theirs)
