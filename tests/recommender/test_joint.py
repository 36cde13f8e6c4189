import numpy as np
import pytest
import torch

from motorec.errors import InputError
from motorec.recommender import JointTokenizers, RecommenderConfig, fit
from motorec.tokenizer import RQVAEConfig, tokenizer_version
from motorec.tokenizer import fit as fit_tokenizer


@pytest.fixture(scope="module")
def tokenizer(planted_task):
    cfg = RQVAEConfig(
        levels=2,
        codebook_size=4,
        latent_dim=4,
        hidden_dims=(16,),
        epochs=5,
        max_steps=20,
        batch_size=32,
        kmeans_sample=100,
    )
    tok, _ = fit_tokenizer(planted_task["feats"], config=cfg, progress=False)
    return tok


def run(planted_task, tokenizer, **overrides):
    data = planted_task["data"]
    joint = JointTokenizers({"text": tokenizer}, {"text": planted_task["feats"]})
    base = dict(embedding_dim=8, batch_size=128, epochs=3, cl_samples=32, joint=True)
    cfg = RecommenderConfig(**{**base, **overrides})
    res = fit(
        data.train,
        len(data.users),
        len(data.items),
        {},
        cfg,
        valid=data.parts["cold_valid"],
        valid_candidates=data.cold_items,
        joint=joint,
        progress=False,
    )
    return res, joint


def test_joint_fine_tuning_trains_a_copy_and_keeps_the_original(planted_task, tokenizer):
    version = tokenizer_version(tokenizer)
    res, joint = run(planted_task, tokenizer, tokenizer_lr=0.05)
    assert tokenizer_version(tokenizer) == version  # never overwritten
    assert tokenizer_version(joint.tokenizers["text"]) != version  # a new version to save
    assert all(h["rq"] > 0 for h in res.history)
    codes = res.content["text"].codes
    assert codes.shape == (len(planted_task["genre"]), 2) and int(codes.min()) >= 0 and int(codes.max()) < 4
    # what scoring uses is what the fine-tuned tokenizer encodes now
    np.testing.assert_array_equal(codes.numpy(), joint.tokenizers["text"].encode(planted_task["feats"]))


def test_ara_and_sparsity_switches_change_the_tokenizer_loss(planted_task, tokenizer):
    losses = {}
    for name, kw in {"full": {}, "no_ara": {"ara": False}, "no_sparsity": {"sparsity": False}}.items():
        res, _ = run(planted_task, tokenizer, epochs=1, **kw)
        losses[name] = res.history[0]["rq"]
    assert losses["no_ara"] < losses["full"]  # ARA weights are >= 1 and > 1 for rare items
    assert losses["no_sparsity"] < losses["full"]


def test_ara_weights_amplify_rare_items(planted_task, tokenizer):
    data = planted_task["data"]
    joint = JointTokenizers({"text": tokenizer}, {"text": planted_task["feats"]})
    joint.prepare(data.degrees, RecommenderConfig(joint=True), torch.device("cpu"))
    w = joint._w["text"].numpy()
    assert np.all(w[data.degrees == 0] == pytest.approx(np.log2(12)))
    assert np.all(w[data.degrees >= 10] == 1.0)


def test_rejects_mismatched_inputs(planted_task, tokenizer):
    with pytest.raises(InputError):
        JointTokenizers({"text": tokenizer}, {"image": planted_task["feats"]})
