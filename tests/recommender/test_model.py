import numpy as np
import pytest
import torch

from motorec.recommender import ModalityInputs, MultiSourceGNN, RecommenderConfig, normalized_adjacency
from motorec.recommender.model import HybridFusion

U, N = 6, 8
# item 7 is strict cold: no edges; items 0..6 have edges
USERS = np.array([0, 0, 1, 2, 3, 4, 5, 5, 1, 2])
ITEMS = np.array([0, 1, 2, 3, 4, 5, 6, 0, 1, 2])


def content(seed=0, image_mask=None):
    rng = np.random.default_rng(seed)
    text = ModalityInputs.from_numpy(
        codes=rng.integers(0, 5, (N, 3)), z_q=rng.normal(size=(N, 4)), feats=rng.normal(size=(N, 10)), codebook_size=5
    )
    image = ModalityInputs.from_numpy(
        mask=image_mask,
        codes=rng.integers(0, 7, (N, 2)),
        z_q=rng.normal(size=(N, 3)),
        feats=rng.normal(size=(N, 6)),
        codebook_size=7,
    )
    return {"text": text, "image": image}


def build(modalities=("image", "text"), **overrides):
    torch.manual_seed(0)
    cfg = RecommenderConfig(**{"embedding_dim": 8, "graph_layers": 2, **overrides})
    c = {m: x for m, x in content().items() if m in modalities}
    model = MultiSourceGNN(U, N, {m: x.spec() for m, x in c.items()}, cfg)
    adj = normalized_adjacency(USERS, ITEMS, U, N)
    has_id = torch.zeros(N, dtype=torch.bool)
    has_id[ITEMS] = True
    return model, adj, c, has_id


@pytest.mark.parametrize("kind", ["codes", "continuous", "none"])
@pytest.mark.parametrize("fusion", ["hybrid", "concat", "attention"])
def test_shapes(kind, fusion):
    model, adj, c, has_id = build(content=kind, fusion=fusion)
    enc = model(adj, c, has_id)
    width = 16 if kind != "none" else 8  # the default id_join="concat" appends the gated ID part
    assert enc.users.shape == (U, width) and enc.items.shape == (N, width) and enc.bias.shape == (N,)
    assert enc.user_content.shape == enc.user_id.shape == (U, 8)
    assert enc.item_content.shape == enc.item_id.shape == (N, 8)
    assert torch.isfinite(enc.users).all() and torch.isfinite(enc.items).all()


@pytest.mark.parametrize("code_tables", [False, True])
def test_strict_cold_item_is_scored_from_its_codes_alone(code_tables):
    model, adj, c, has_id = build(code_tables=code_tables)
    enc = model(adj, c, has_id)
    assert torch.isfinite(enc.users @ enc.items[7] + enc.bias[7]).all()
    assert torch.count_nonzero(enc.item_id[7]) == 0
    before = enc.items[7].detach().clone(), enc.bias[7].item()
    # its own (untrained) ID row and every other item's ID row change: its vector must not move
    with torch.no_grad():
        model.item_id.weight.add_(torch.randn_like(model.item_id.weight))
    enc2 = model(adj, c, has_id)
    torch.testing.assert_close(enc2.items[7], before[0])
    assert enc2.bias[7].item() == pytest.approx(before[1])
    # new codes for item 7 (and so a new quantised vector, which the tied form reads) change its vector
    if code_tables:
        c["text"].codes[7] = (c["text"].codes[7] + 1) % 5
    else:
        c["text"].z_q[7] = c["text"].z_q[0]
    enc3 = model(adj, c, has_id)
    assert not torch.allclose(enc3.items[7], before[0])


def test_content_bias_moves_with_codes():
    model, adj, c, has_id = build(code_tables=True)
    with torch.no_grad():
        model.encoders["text"].code_bias.weight.normal_()
    b1 = model(adj, c, has_id).bias[7].item()
    c["text"].codes[7, 0] = (c["text"].codes[7, 0] + 2) % 5
    assert model(adj, c, has_id).bias[7].item() != pytest.approx(b1)


def test_tied_code_embeddings_are_a_projection_of_the_quantised_vector():
    # without free tables, c_i = W normalize(z_q_i): a sum over levels of W C_l[code], nothing per code on its own
    model, adj, c, has_id = build(code_tables=False, fusion="concat")
    enc = model(adj, c, has_id)
    assert not any(".codes." in n or "code_bias" in n for n, _ in model.named_parameters())
    text = model.encoders["text"]
    vec, bias = text(c["text"])
    z = torch.nn.functional.normalize(c["text"].z_q, dim=1)
    torch.testing.assert_close(vec, z @ text.proj.weight.T)
    torch.testing.assert_close(bias, z @ text.vec_bias.weight[0])
    moved = {m: ModalityInputs(x.mask, (x.codes + 1) % 3, x.z_q, x.feats, x.codebook_size) for m, x in c.items()}
    torch.testing.assert_close(model(adj, moved, has_id).items, enc.items)  # only z_q is read


def test_codes_content_needs_tables_or_a_projection():
    with pytest.raises(ValueError, match="code_tables or use_zq_projection"):
        RecommenderConfig(code_tables=False, use_zq_projection=False)


def test_warm_and_cold_items_with_the_same_content_get_the_same_content_vector():
    model, adj, c, has_id = build()
    for m in c.values():  # item 7 (cold) copies item 0 (warm)
        m.codes[7], m.z_q[7], m.feats[7] = m.codes[0], m.z_q[0], m.feats[0]
    enc = model(adj, c, has_id, id_keep=torch.zeros(N))  # ID part dropped everywhere
    torch.testing.assert_close(enc.items[7], enc.items[0])
    torch.testing.assert_close(enc.item_content[7], enc.item_content[0])


def test_id_only_switch_is_lightgcn():
    model, adj, c, has_id = build(content="none")
    enc = model(adj, {}, has_id)
    dense = adj.to_dense()
    x0 = torch.cat([model.user_id.weight, model.item_id.weight * has_id[:, None]])
    ref = (x0 + dense @ x0 + dense @ dense @ x0) / 3
    torch.testing.assert_close(enc.users, ref[:U])
    torch.testing.assert_close(enc.items, ref[U:])
    assert torch.all(enc.bias == 0)
    assert torch.all(enc.items[7] == 0)


def test_missing_modality_is_masked_not_filled():
    mask = np.ones(N, dtype=bool)
    mask[3] = False
    model, adj, _, has_id = build()
    c = content(image_mask=mask)
    enc = model(adj, c, has_id)
    c["image"].codes[3] = 6  # garbage on a masked row changes nothing
    c["image"].z_q[3] = 100.0
    enc2 = model(adj, c, has_id)
    torch.testing.assert_close(enc.items[3], enc2.items[3])


def test_fusion_attention_ignores_masked_sources():
    torch.manual_seed(0)
    fusion = HybridFusion(2, 4, alpha=0.0)
    x = torch.randn(3, 2, 4)
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    out = fusion(x, mask)
    torch.testing.assert_close(out[0], x[0, 0])  # only one source: attention weight 1
    assert torch.all(out[2] == 0)  # no source: zero
    concat = HybridFusion(1, 4, alpha=1.0)
    torch.testing.assert_close(concat(x[:, :1], mask[:, :1]), x[:, 0] * mask[:, :1])  # identity at init


def test_fusion_single_source_shortcut_matches_the_attention_formula():
    # with one source the attention is skipped; it must give what softmax over one logit gives
    torch.manual_seed(0)
    fusion = HybridFusion(1, 4, alpha=0.3)
    with torch.no_grad():
        fusion.query.normal_()  # a non-trivial attention, which a single source must not feel
        fusion.concat.weight.normal_()
    x = torch.randn(5, 1, 4)
    mask = torch.tensor([[True], [False], [True], [True], [False]])
    xm = x * mask[..., None]
    logits = (torch.tanh(fusion.key(xm)) @ fusion.query).masked_fill(~mask, float("-inf"))
    attention = (torch.softmax(logits, 1).nan_to_num(0.0)[..., None] * xm).sum(1)
    expected = 0.3 * fusion.concat(xm[:, 0]) + 0.7 * attention
    torch.testing.assert_close(fusion(x, mask), expected)
    assert torch.all(fusion(x, mask)[1] == 0)


@pytest.mark.parametrize("modalities", [("image", "text"), ("text",)])  # one: the training pass folds the fusion
def test_encode_items_scores_items_added_after_training(modalities):
    model, adj, c, has_id = build(modalities)
    with torch.no_grad():
        model.fusion.concat.weight.normal_()
    enc = model(adj, c, has_id)
    new = {m: x.rows(torch.tensor([7, 0])) for m, x in c.items()}
    items, bias, _ = model.encode_items(new, torch.zeros(2, 8))
    torch.testing.assert_close(items[0], enc.items[7])
    torch.testing.assert_close(bias, enc.bias[[7, 0]])


@pytest.mark.parametrize("id_join", ["sum", "concat"])
def test_content_only_scoring_is_how_an_item_without_id_is_scored(id_join):
    # the content-only BPR term must train exactly the path a strict-cold item is ranked by
    with torch.no_grad():
        model, adj, c, has_id = build(id_join=id_join)
        model.no_id_bias.fill_(0.7)
        for gate in (model.item_gate, model.user_gate):  # non-trivial gates, so "sum" and "concat" differ
            gate.gate.weight.normal_()
        enc = model(adj, c, has_id)
        rows = torch.tensor([0, 3, 7])
        vecs, bias = model.content_only(enc, rows)
        no_id = model.encode_items({m: x.rows(rows) for m, x in c.items()}, torch.zeros(3, 8))
        torch.testing.assert_close(vecs, no_id[0])
        torch.testing.assert_close(bias + 0.7, no_id[1])  # the no-ID offset is common to all of them
        torch.testing.assert_close(vecs[2], enc.items[7])  # item 7 has no ID anyway
        assert not torch.allclose(vecs[0], enc.items[0])  # item 0's ID part is gone


@pytest.mark.parametrize("layers", [0, 1, 3])
@pytest.mark.parametrize(
    "kind,code_tables,zq,dim,zq_grad",  # zq_grad: joint fine-tuning, z_q itself gets a gradient
    [
        ("codes", False, True, 8, False),
        ("codes", True, True, 8, False),
        ("codes", True, False, 8, False),  # code tables alone
        ("continuous", False, True, 8, False),
        ("continuous", False, True, 4, False),  # text features 10 wide go after W, image 6 before
        ("codes", True, True, 1, False),
        ("codes", False, True, 8, True),  # z_q propagated before W, with a backward product
        ("codes", True, True, 1, True),  # z_q wider than 2 d: propagated after W
    ],
)
@pytest.mark.parametrize("modalities", [("image", "text"), ("text",)])  # one source: the fusion is folded in
@pytest.mark.parametrize("propagate_user", [True, False])
def test_content_channel_equals_whole_graph_propagation(
    layers, kind, code_tables, zq, dim, zq_grad, modalities, propagate_user
):
    # the encoder propagates only what reaches the users (module docstring); the definition is the
    # LightGCN layer mean of [user content vectors; item content vectors] over the whole graph, or
    # without `propagate_user_content` the fused layer mean of [0; item vectors] plus the user's one
    # free vector over layers + 1. Values and gradients of every parameter (and of z_q) must agree, with an item lacking
    # the image modality. The forward runs twice: the second is served the memoised propagated inputs.
    mask = np.ones(N, dtype=bool)
    mask[2] = False
    model, adj, _, has_id = build(
        modalities,
        content=kind,
        code_tables=code_tables,
        use_zq_projection=zq,
        embedding_dim=dim,
        graph_layers=layers,
        propagate_user_content=propagate_user,
    )
    c = {m: x for m, x in content(image_mask=mask).items() if m in modalities}
    for x in c.values():
        x.z_q.requires_grad_(zq_grad)
    with torch.no_grad():
        for gate in (model.user_gate, model.item_gate):  # gates that read h, so a wrong view would show
            gate.gate.weight.normal_()
        model.fusion.concat.weight.normal_()  # a fusion that is not the mean, so a missing F would show
    weights = torch.randn(U, 2 * dim), torch.randn(N, 2 * dim)
    params = list(model.parameters()) + [x.z_q for x in c.values() if zq_grad]

    def loss(users, items):
        return (users * weights[0]).sum() + (items * weights[1]).sum()

    for _ in range(2):
        enc = model(adj, c, has_id)
        got = loss(enc.users, enc.items)
        grads = torch.autograd.grad(got, params, allow_unused=True)

    names = sorted(c)
    item_vecs = [model.encoders[m](c[m])[0] for m in names]  # (N, d) each
    users0, items0 = model.user_content.weight, torch.cat(item_vecs, 1)  # (U, M d), (N, M d)
    dense = adj.to_dense()

    def layer_sum(x0):
        layer, total = x0, x0
        for _ in range(layers):
            layer = dense @ layer
            total = total + layer
        return total[:U]

    if propagate_user:
        views = layer_sum(torch.cat([users0, items0])) / (layers + 1)
        h_u = model.fusion(views.reshape(U, len(names), dim))
    else:  # theta_u (U, d) joins after the fusion
        views = layer_sum(torch.cat([torch.zeros(U, items0.shape[1]), items0])) / (layers + 1)
        h_u = model.fusion(views.reshape(U, len(names), dim)) + users0 / (layers + 1)
    masks = torch.stack([c[m].mask for m in names], 1)
    h_i = model.fusion(torch.stack(item_vecs, 1), masks)
    ref = loss(model.user_gate(h_u, enc.user_id.detach()), model.item_gate(h_i, enc.item_id.detach()))
    torch.testing.assert_close(got, ref)
    # the ID channel is the same code in both (and detached in the reference): compare the rest
    ref_grads = torch.autograd.grad(ref, params, allow_unused=True)
    named = [n for n, _ in model.named_parameters()] + [f"z_q {m}" for m in names if zq_grad]
    for name, g, r in zip(named, grads, ref_grads, strict=True):
        if name.startswith(("user_id", "item_id")):
            continue
        if r is None:
            assert g is None or torch.count_nonzero(g) == 0, name
        else:
            torch.testing.assert_close(g, r, msg=name)


def test_propagated_inputs_are_recomputed_when_the_content_changes():
    # the z_q propagation is kept between calls with the same tensors; a change in place or new
    # tensors must not be served the old one
    model, adj, c, has_id = build(propagate_user_content=False)

    def views(enc):
        return enc.user_content, enc.item_content, enc.bias

    before = views(model(adj, c, has_id))
    c["text"].z_q[:4] += 1.0  # items 0..3 have edges
    got = views(model(adj, c, has_id))
    fresh, _, _, _ = build(propagate_user_content=False)
    torch.testing.assert_close(got, views(fresh(adj, c, has_id)))
    assert not torch.allclose(got[0], before[0])
    c["image"].mask[1] = False  # a modality removed in place
    torch.testing.assert_close(views(model(adj, c, has_id)), views(fresh(adj, c, has_id)))
    other = content(seed=1)
    torch.testing.assert_close(views(model(adj, other, has_id)), views(fresh(adj, other, has_id)))


@pytest.mark.parametrize("propagate_user", [True, False])
def test_fixed_inputs_are_propagated_once(monkeypatch, propagate_user):
    # with the tokenizer frozen, the second pass over the same graph and content propagates only what
    # has parameters in it: the user vectors when they are propagated, nothing otherwise
    import motorec.recommender.model as model_module

    model, adj, c, has_id = build(propagate_user_content=propagate_user)
    calls = []
    real = model_module.user_rows_of_layers
    monkeypatch.setattr(model_module, "user_rows_of_layers", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = model(adj, c, has_id).user_content
    first_calls = len(calls)
    second = model(adj, c, has_id).user_content
    with_parameters = 1 if propagate_user else 0  # the user vectors' own propagation
    assert first_calls == with_parameters + 1  # and z_q's, once
    assert len(calls) - first_calls == with_parameters
    torch.testing.assert_close(first, second)


def test_inference_mode_neither_breaks_nor_poisons_the_memo():
    model, adj, c, has_id = build(propagate_user_content=False)
    fresh, _, _, _ = build(propagate_user_content=False)
    with torch.inference_mode():  # inference tensors as inputs: they keep no version counter
        adj_inf = normalized_adjacency(USERS, ITEMS, U, N)
        c_inf = content()
        got = model(adj_inf, c_inf, has_id).user_content
        model(adj, c, has_id)  # ordinary inputs, but what is computed here is an inference tensor
    torch.testing.assert_close(got, fresh(adj, c, has_id).user_content.detach())
    enc = model(adj, c, has_id)  # training after that: nothing kept from inference mode
    (enc.user_content.sum() + enc.item_content.sum()).backward()
    torch.testing.assert_close(enc.user_content, fresh(adj, c, has_id).user_content)


def test_a_new_adjacency_is_not_served_stale_blocks():
    # the encoder keeps the blocks of the last adjacency it saw; another graph must get its own
    model, adj, c, has_id = build()
    other = normalized_adjacency(USERS[:6], ITEMS[:6], U, N)
    before = model(adj, c, has_id).user_content
    got = model(other, c, has_id).user_content
    fresh, _, _, _ = build()  # same seed, same weights, never saw `adj`
    torch.testing.assert_close(got, fresh(other, c, has_id).user_content)
    assert not torch.allclose(got, before)
    torch.testing.assert_close(model(adj, c, has_id).user_content, before)


@pytest.mark.parametrize("id_gate,width", [("scalar", 1), ("vector", 8)])
def test_id_gate_is_one_per_node_or_one_per_dimension(id_gate, width):
    model, adj, c, has_id = build(id_gate=id_gate)
    assert model.item_gate.gate.weight.shape == (width, 16)
    with torch.no_grad():
        model.item_gate.gate.weight.normal_()
    enc = model(adj, c, has_id)
    gate = torch.sigmoid(model.item_gate.gate(torch.cat([enc.item_content, enc.item_id], 1)))  # (N, width)
    torch.testing.assert_close(enc.item_gated, gate * enc.item_id)
    ratio = enc.item_gated[:7] / enc.item_id[:7]  # items 0..6 have an ID part
    assert (ratio.std(1) < 1e-5).all() == (id_gate == "scalar")  # a scalar gate scales every dimension alike
