import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motorec.errors import InputError
from motorec.recommender import (
    ModalityInputs,
    MultiSourceGNN,
    Popularity,
    RecommenderConfig,
    evaluate,
    fit,
    normalized_adjacency,
)
from motorec.recommender.evaluate import lookup
from motorec.recommender.train import NegativeSampler, batch_loss, info_nce

FAST = dict(embedding_dim=16, batch_size=128, epochs=30, lr=0.01, eval_every=5, patience=3, cl_samples=64)


def train(task, **overrides):
    data = task["data"]
    cfg = RecommenderConfig(**{**FAST, **overrides})
    valid = data.parts["cold_valid"]
    return fit(
        data.train,
        len(data.users),
        len(data.items),
        task["content"],
        cfg,
        valid=valid,
        valid_candidates=data.cold_items,
        progress=False,
    )


def test_training_reduces_the_loss(planted_task):
    res = train(planted_task, epochs=10, patience=100)
    losses = [h["bpr"] for h in res.history]
    assert losses[-1] < 0.7 * losses[0]
    assert res.seconds_per_epoch > 0 and res.best_epoch >= 1


def test_beats_popularity_on_planted_content_signal(planted_task):
    data = planted_task["data"]
    res = train(planted_task)
    settings = ("strict_cold", "warm")
    ours = evaluate(res.scorer().score, data, "ours", settings=settings, ks=(5,))
    pop = evaluate(Popularity(data.train, len(data.items)).score, data, "pop", settings=settings, ks=(5,))
    # 20 cold items, 5 per genre: the planted genre finds them, popularity (all zero) cannot
    assert lookup(ours, "strict_cold", k=5) > lookup(pop, "strict_cold", k=5) + 0.3
    assert lookup(ours, "warm", k=5) > lookup(pop, "warm", k=5)


def test_deterministic_under_a_seed(planted_task):
    a = train(planted_task, epochs=4, eval_every=2, seed=3)
    b = train(planted_task, epochs=4, eval_every=2, seed=3)
    c = train(planted_task, epochs=4, eval_every=2, seed=4)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    for (k, v), (_, w) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    assert [h["loss"] for h in a.history] != [h["loss"] for h in c.history]


def test_early_stopping_restores_the_best_epoch(planted_task):
    res = train(planted_task, epochs=40, eval_every=1, patience=2, lr=0.05)
    scored = [h["valid_recall@20"] for h in res.history if "valid_recall@20" in h]
    assert res.best_valid == max(scored)
    assert res.best_epoch == 1 + int(np.argmax(scored))
    assert len(res.history) - res.best_epoch <= 2


@pytest.mark.parametrize(
    "overrides",
    [
        dict(content="none"),
        dict(content="continuous"),
        dict(contrastive=False),
        dict(fusion="concat"),
        dict(use_zq_projection=False, code_tables=True, content_bias=False),
        dict(code_tables=True),
        dict(id_join="concat", content_weight_decay=1e-3),
        dict(id_dropout=0.3, cl_detach_id=False),
    ],
)
def test_ablation_switches_train(planted_task, overrides):
    res = train(planted_task, epochs=2, eval_every=1, **overrides)
    assert np.isfinite(res.history[-1]["loss"])


def test_sampler_never_returns_a_positive():
    users = np.array([0, 0, 1])
    items = np.array([0, 1, 2])
    sampler = NegativeSampler(users, items, 4, pool=np.arange(4))
    neg = sampler(np.zeros(500, dtype=np.int64), np.random.default_rng(0))
    assert not np.isin(neg, [0, 1]).any()


def test_info_nce_matches_cross_entropy_both_ways():
    torch.manual_seed(0)
    a, b = torch.randn(7, 5), torch.randn(7, 5)
    logits = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T / 0.2
    labels = torch.arange(7)
    ref = 0.5 * (
        torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)
    )
    torch.testing.assert_close(info_nce(a, b, 0.2), ref)


def test_info_nce_batches_independent_problems():
    torch.manual_seed(0)
    a, b = torch.randn(3, 6, 5), torch.randn(3, 6, 5)
    got = info_nce(a, b, 0.2)
    assert got.shape == (3,)
    torch.testing.assert_close(got, torch.stack([info_nce(a[k], b[k], 0.2) for k in range(3)]))


def test_info_nce_prefers_aligned_views():
    a = torch.eye(4)
    assert info_nce(a, a, 0.2) < info_nce(a, a.roll(1, 0), 0.2)


def test_bad_inputs(planted_task):
    data = planted_task["data"]
    cfg = RecommenderConfig(**FAST)
    with pytest.raises(InputError):
        fit((np.array([], dtype=np.int64),) * 2, 3, 3, {}, cfg, progress=False)
    with pytest.raises(InputError, match="modality"):
        fit(data.train, len(data.users), len(data.items), {}, cfg, progress=False)
    with pytest.raises(InputError, match="joint"):
        fit(
            data.train,
            len(data.users),
            len(data.items),
            planted_task["content"],
            RecommenderConfig(**FAST, joint=True),
            progress=False,
        )


@pytest.mark.parametrize("id_join,kind", [("sum", "codes"), ("concat", "codes"), ("concat", "none")])
@pytest.mark.parametrize("dropout", [False, True])
def test_batch_loss_matches_the_explicit_formula(id_join, kind, dropout):
    # batch_loss scores the concat halves apart and counts the L2 rows instead of gathering them;
    # it must equal the losses written out from the final vectors and content_only
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n_users, n_items = 9, 12
    users, items = rng.integers(0, n_users, 40), rng.integers(0, 10, 40)
    text = ModalityInputs.from_numpy(codes=rng.integers(0, 4, (n_items, 2)), z_q=rng.normal(size=(n_items, 5)))
    content = {"text": text} if kind == "codes" else {}
    cfg = RecommenderConfig(
        embedding_dim=8, id_join=id_join, content=kind, lambda_content=0.7, lambda_reg=0.3, contrastive=False
    )
    model = MultiSourceGNN(n_users, n_items, {"text": text.spec()}, cfg)
    if model.has_content:
        with torch.no_grad():
            for gate in (model.user_gate, model.item_gate):
                gate.gate.weight.normal_()
            model.no_id_bias.fill_(0.4)
    adj = normalized_adjacency(users, items, n_users, n_items)
    has_id = torch.zeros(n_items, dtype=torch.bool)
    has_id[items] = True
    keep = torch.as_tensor(rng.random(n_items) > 0.5, dtype=torch.float32) if dropout else None
    u, i, j = (torch.as_tensor(rng.integers(0, hi, 16)) for hi in (n_users, n_items, n_items))
    loss, parts = batch_loss(model, adj, content, has_id, keep, u, i, j, cfg, torch.Generator())
    enc = model(adj, content, has_id, keep)
    eu = enc.users[u]
    bpr = -F.logsigmoid((eu * enc.items[i]).sum(1) + enc.bias[i] - (eu * enc.items[j]).sum(1) - enc.bias[j]).mean()
    reg = model.user_id.weight[u].square().sum() + model.item_id.weight[i].square().sum()
    reg = reg + model.item_id.weight[j].square().sum()
    expected = bpr
    if model.has_content:
        (vi, bi), (vj, bj) = model.content_only(enc, i), model.content_only(enc, j)
        bpr_content = -F.logsigmoid((eu * (vi - vj)).sum(1) + bi - bj).mean()
        torch.testing.assert_close(parts["bpr_content"], bpr_content)
        reg = reg + model.user_content.weight[u].square().sum()
        expected = expected + 0.7 * bpr_content
    else:
        assert parts["bpr_content"] == 0
    reg = reg / (2 * 16)
    torch.testing.assert_close(parts["bpr"], bpr)
    torch.testing.assert_close(parts["reg"], reg)
    torch.testing.assert_close(loss, expected + 0.3 * reg)


def test_lazy_info_nce_enters_at_cl_every_times_its_weight():
    # a step without InfoNCE leaves every other part as it is; a step with it adds lambda_cl * cl_every * cl
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    n_users, n_items = 9, 12
    users, items = rng.integers(0, n_users, 40), rng.integers(0, n_items, 40)
    text = ModalityInputs.from_numpy(codes=rng.integers(0, 4, (n_items, 2)), z_q=rng.normal(size=(n_items, 5)))
    cfg = RecommenderConfig(embedding_dim=8, cl_every=3, lambda_cl=0.2, cl_samples=4)
    model = MultiSourceGNN(n_users, n_items, {"text": text.spec()}, cfg)
    adj = normalized_adjacency(users, items, n_users, n_items)
    has_id = torch.zeros(n_items, dtype=torch.bool)
    has_id[items] = True
    u, i, j = (torch.as_tensor(rng.integers(0, hi, 16)) for hi in (n_users, n_items, n_items))
    args = (model, adj, {"text": text}, has_id, None, u, i, j, cfg)
    with_cl, parts = batch_loss(*args, torch.Generator().manual_seed(0), True)
    without, rest = batch_loss(*args, torch.Generator().manual_seed(0), False)
    assert parts["cl"] > 0 and rest["cl"] == 0
    for key in ("bpr", "bpr_content", "reg"):
        torch.testing.assert_close(parts[key], rest[key])
    torch.testing.assert_close(with_cl - without, 0.2 * 3 * parts["cl"])


@pytest.mark.parametrize("every", [1, 2, 3])
def test_fit_computes_info_nce_on_every_kth_step(planted_task, monkeypatch, every):
    from motorec.recommender import train as train_module

    calls = []
    real = train_module._contrastive
    monkeypatch.setattr(train_module, "_contrastive", lambda *a: calls.append(1) or real(*a))
    res = train(planted_task, epochs=2, patience=100, cl_every=every)
    steps = 2 * -(-len(planted_task["data"].train[0]) // FAST["batch_size"])  # batches of two epochs
    assert len(calls) == -(-steps // every)  # steps 0, every, 2 every, ...
    assert all(h["cl"] > 0 for h in res.history)  # averaged over the steps that computed it
