"""The recommender on CUDA: training, scoring, top-k and joint fine-tuning agree with the CPU. Skipped without CUDA.

Both devices start from the same weights (the model is built on the CPU under the seed, then moved) and draw
the same batches, negatives and dropout masks (numpy and a CPU torch generator), so they differ by float
rounding alone.
"""

import numpy as np
import pytest
import torch

from motorec.recommender import JointTokenizers, RecommenderConfig, evaluate, fit
from motorec.recommender.evaluate import lookup
from motorec.recommender.recommend import Scorer, recommend
from motorec.tokenizer import RQVAEConfig
from motorec.tokenizer import fit as fit_tokenizer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

BASE = dict(embedding_dim=16, batch_size=128, epochs=4, lr=0.01, eval_every=1, patience=10, cl_samples=64)


def _fit(task, device, inputs=None, tokenizers=None, **overrides):
    data = task["data"]
    cfg = RecommenderConfig(**{**BASE, **overrides, "device": device})
    return fit(data.train, len(data.users), len(data.items), task["content"] if inputs is None else inputs, cfg,
               valid=data.parts["cold_valid"], valid_candidates=data.cold_items, joint=tokenizers, progress=False)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        dict(content="none"),
        dict(content="continuous"),
        dict(id_dropout=0.3, cl_every=1),
        dict(code_tables=True, id_join="concat", fusion="concat"),
    ],
)
def test_training_on_cuda_agrees_with_the_cpu(planted_task, overrides):
    cpu, gpu = _fit(planted_task, "cpu", **overrides), _fit(planted_task, "cuda", **overrides)
    assert all(p.is_cuda for p in gpu.model.parameters()) and gpu.adj.is_cuda
    for key in ("loss", "bpr", "cl"):
        np.testing.assert_allclose([h[key] for h in gpu.history], [h[key] for h in cpu.history], rtol=2e-3, err_msg=key)
    users = np.arange(len(planted_task["data"].users))
    s_gpu, s_cpu = gpu.scorer().score(users), cpu.scorer().score(users)
    assert s_gpu.is_cuda and s_gpu.shape == s_cpu.shape
    assert (s_gpu.cpu() - s_cpu).abs().max() <= 1e-2 * s_cpu.abs().max()
    # the metrics run on the device's scores and come out the same
    data = planted_task["data"]
    res = {name: evaluate(r.scorer().score, data, name, settings=("warm", "strict_cold"), ks=(5,))
           for name, r in (("cpu", cpu), ("cuda", gpu))}
    for setting in ("warm", "strict_cold"):
        assert lookup(res["cuda"], setting, k=5) == pytest.approx(lookup(res["cpu"], setting, k=5), abs=0.02)


def test_top_k_from_cuda_scores_matches_the_cpu(planted_task):
    data = planted_task["data"]
    gpu = _fit(planted_task, "cuda")
    scorer = gpu.scorer()
    cpu_scorer = Scorer(scorer.users.cpu(), scorer.items.cpu(), scorer.bias.cpu())
    users, items = data.users, data.items
    ids = users.ids.slice(0, 10)
    # chunks of 3 users: the device's scores are copied to the CPU chunk by chunk
    a = recommend(scorer.score, users, items, ids, k=5, seen=data.train, chunk_size=3)
    b = recommend(cpu_scorer.score, users, items, ids, k=5, seen=data.train, chunk_size=3)
    assert a.num_rows == 50
    assert a.column("user_id").equals(b.column("user_id"))
    same = np.mean(np.asarray(a.column("item_id")) == np.asarray(b.column("item_id")))
    assert same >= 0.9  # float ties aside, the same lists
    np.testing.assert_allclose(np.asarray(a.column("score")), np.asarray(b.column("score")), rtol=1e-4, atol=1e-4)


def test_joint_fine_tuning_on_cuda(planted_task):
    cfg = RQVAEConfig(levels=2, codebook_size=4, latent_dim=4, hidden_dims=(16,), epochs=5, max_steps=20,
                      batch_size=32, kmeans_sample=100)
    tok, _ = fit_tokenizer(planted_task["feats"], config=cfg, progress=False)
    joint = JointTokenizers({"text": tok}, {"text": planted_task["feats"]})
    res = _fit(planted_task, "cuda", inputs={}, tokenizers=joint, joint=True, tokenizer_lr=0.05, epochs=2,
               embedding_dim=8, cl_samples=32)
    assert all(h["rq"] > 0 and np.isfinite(h["loss"]) for h in res.history)
    codes = res.content["text"].codes
    assert codes.is_cuda and codes.shape == (len(planted_task["genre"]), 2)
    # the codes scoring uses are what the fine-tuned tokenizer encodes, on either device
    fine = joint.tokenizers["text"]
    np.testing.assert_array_equal(codes.cpu().numpy(), fine.encode(planted_task["feats"]))
    assert (fine.to("cpu").encode(planted_task["feats"]) == codes.cpu().numpy()).all(1).mean() >= 0.99
