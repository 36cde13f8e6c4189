import numpy as np
import pytest
import torch

from motorec.errors import InputError
from motorec.tokenizer import RQVAEConfig, fit, tokenizer_version
from motorec.tokenizer.base import check_vectors
from motorec.tokenizer.health import usage_entropy

FAST = dict(codebook_size=32, latent_dim=8, hidden_dims=(32,), max_steps=100)


def test_codes_shape_and_range(clustered):
    x, _ = clustered
    tok, stats = fit(x, config=RQVAEConfig(levels=3, **FAST), progress=False)
    codes = tok.encode(x)
    assert codes.shape == (len(x), 3) and codes.dtype == np.int64
    assert codes.min() >= 0 and codes.max() < 32
    assert stats.steps > 0 and stats.best_epoch >= 1


def test_decode_of_encode_equals_eval_mode_quantised_reconstruction(clustered):
    x, _ = clustered
    tok, _ = fit(x, config=RQVAEConfig(levels=2, **FAST), progress=False)
    module = tok.module.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(tok.standardize(x)))
    expected = out.recon.numpy() * tok.std + tok.mean
    np.testing.assert_allclose(tok.decode(tok.encode(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(out.codes.numpy(), tok.encode(x))
    q = tok.quantize(x)
    np.testing.assert_allclose(q.recon, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(q.z_q, out.z_q.numpy(), rtol=1e-5, atol=1e-5)


def test_level_one_utilisation_on_clustered_data(clustered):
    x, _ = clustered
    _, stats = fit(x, config=RQVAEConfig(levels=2, **FAST), progress=False)
    assert stats.health.utilisation[0] >= 0.9


def test_same_seed_same_codes_and_other_seed_differs(clustered):
    x, _ = clustered
    cfg = RQVAEConfig(levels=2, **FAST)
    a, _ = fit(x, config=cfg, progress=False)
    b, _ = fit(x, config=cfg, progress=False)
    np.testing.assert_array_equal(a.encode(x), b.encode(x))
    c, _ = fit(x, config=RQVAEConfig(levels=2, seed=7, **FAST), progress=False)
    assert not np.array_equal(a.encode(x), c.encode(x))


@pytest.mark.parametrize("update", ["loss", "ema"])
def test_sparsity_prior_raises_usage_entropy_from_collapse_prone_start(clustered, update):
    # no k-means init and no dead-code reset: codebooks start as tiny random vectors near the origin
    x, _ = clustered
    # plain MLPs (no skip path, PCA start, dropout or weight decay) and no collision term: the prior alone
    common = dict(
        levels=1,
        codebook_size=32,
        latent_dim=8,
        hidden_dims=(32,),
        kmeans_init=False,
        skip=False,
        init="random",
        dropout=0.0,
        weight_decay=0.0,
        collision_weight=0.0,
        lr=2e-3,
        dead_code_window=10**6,
        codebook_update=update,
        max_steps=400,
        val_fraction=0.0,
    )
    without, _ = fit(x, config=RQVAEConfig(sparsity=False, **common), progress=False)
    with_sp, _ = fit(x, config=RQVAEConfig(sparsity=True, gamma=0.5, **common), progress=False)
    h0 = usage_entropy(without.encode(x)[:, 0], 32)
    h1 = usage_entropy(with_sp.encode(x)[:, 0], 32)
    assert h1 > h0 + 0.3, (h0, h1)


def test_rarity_weights_change_training(clustered):
    x, _ = clustered
    cfg = RQVAEConfig(levels=2, **FAST)
    degrees = np.where(np.arange(len(x)) % 2 == 0, 0, 50)
    a, _ = fit(x, config=cfg, progress=False)
    b, _ = fit(x, degrees=degrees, config=cfg, progress=False)
    assert not torch.equal(a.module.encoder[0].weight, b.module.encoder[0].weight)
    c, _ = fit(x, degrees=degrees, config=RQVAEConfig(levels=2, rarity="none", **FAST), progress=False)
    assert torch.equal(a.module.encoder[0].weight, c.module.encoder[0].weight)


def test_rqkmeans_behind_same_interface(clustered):
    x, _ = clustered
    tok, stats = fit(x, config=RQVAEConfig(method="rqkmeans", levels=2, codebook_size=32), progress=False)
    codes = tok.encode(x)
    assert codes.shape == (len(x), 2)
    assert tok.decode(codes).shape == x.shape
    assert stats.health.utilisation[0] >= 0.9
    assert stats.health.explained_variance > 0.9


def test_bad_inputs_give_clear_errors(clustered):
    x, _ = clustered
    bad = x.copy()
    bad[[3, 17]] = np.nan
    with pytest.raises(InputError, match=r"NaN or inf in 2 row\(s\): 3, 17"):
        fit(bad, config=RQVAEConfig(**FAST), progress=False)
    with pytest.raises(InputError, match="empty"):
        fit(np.zeros((0, 24), np.float32), config=RQVAEConfig(**FAST), progress=False)
    with pytest.raises(InputError, match="K=32 exceeds the number of items N=10"):
        fit(x[:10], config=RQVAEConfig(**FAST), progress=False)
    with pytest.raises(InputError, match="2-D"):
        fit(x[0], config=RQVAEConfig(**FAST), progress=False)
    tok, _ = fit(x, config=RQVAEConfig(levels=2, **FAST), progress=False)
    with pytest.raises(InputError, match="dimension 12, but the tokenizer was fitted on dimension 24"):
        tok.encode(x[:, :12])
    with pytest.raises(InputError, match=r"codes must lie in \[0, 32\)"):
        tok.decode(np.array([[0, 32]]))
    with pytest.raises(InputError, match=r"shape \(N, 2\)"):
        tok.decode(np.array([[0, 1, 2]]))


def test_small_catalog_warns_when_k_not_well_below_n(clustered):
    x, _ = clustered
    with pytest.warns(UserWarning, match="not well below"):
        fit(x[:100], config=RQVAEConfig(method="rqkmeans", codebook_size=32, levels=1), progress=False)


def test_finite_rows_with_huge_values_are_not_mistaken_for_inf():
    x = np.full((3, 400), 3e38, dtype=np.float32)  # every row sum overflows float32, no entry is inf
    np.testing.assert_array_equal(check_vectors(x), x)
    x[1, 5] = np.inf
    with pytest.raises(InputError, match=r"in 1 row\(s\): 1"):
        check_vectors(x)


def test_early_stopping_then_refit_on_every_item(clustered):
    x, _ = clustered
    cfg = RQVAEConfig(levels=2, eval_every=20, **FAST)
    _, stats = fit(x, config=cfg, progress=False)
    first = [h for h in stats.history if "phase" not in h]
    # the first pass keeps the latest state within val_tolerance of its best held-out MSE ...
    best = min(h["val_mse"] for h in first)
    chosen = [h for h in first if h["val_mse"] <= best * (1 + cfg.val_tolerance)][-1]
    assert chosen["step"] == stats.best_step and stats.best_val_mse == chosen["val_mse"]
    # ... and the refit on all items (N < refit_below) trains exactly that many steps
    assert stats.steps == first[-1]["step"] + stats.best_step
    assert [h["step"] for h in stats.history if h.get("phase") == "refit"][-1] == stats.best_step
    _, no_refit = fit(x, config=RQVAEConfig(levels=2, eval_every=20, refit_below=0, **FAST), progress=False)
    assert no_refit.steps == first[-1]["step"]


def test_collision_term_separates_items_that_share_a_tuple(clustered):
    # 500 points around 40 tight centres: three levels of 32 codes lump many same-centre points together
    x = clustered[0][:500]
    rates = {
        w: fit(x, config=RQVAEConfig(levels=3, collision_weight=w, **FAST), progress=False)[1].health.collision_rate
        for w in (0.0, 2.0)
    }
    assert rates[2.0] < 0.75 * rates[0.0], rates


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_parallel_chunked_encode_matches_the_sequential_one(clustered, method):
    x, _ = clustered  # 2,000 rows: two encode chunks
    tok, _ = fit(x, config=RQVAEConfig(method=method, levels=3, **FAST), progress=False)
    sequential = tok.encode(x)  # the tokenizer tests run single-threaded
    torch.set_num_threads(2)
    parallel = tok.encode(x)
    assert torch.get_num_threads() == 2  # restored after the worker pool
    np.testing.assert_array_equal(parallel, sequential)


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_fit_does_not_depend_on_the_callers_thread_count(clustered, method):
    # a multi-threaded BLAS changes float summation order under load; the fit pins itself to one thread
    import faiss

    x, _ = clustered
    cfg = RQVAEConfig(method=method, levels=2, **FAST)
    faiss_threads = faiss.omp_get_max_threads()
    torch.set_num_threads(1)  # the fixture restores the caller's value afterwards
    one, _ = fit(x, config=cfg, progress=False)
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    try:
        two, _ = fit(x, config=cfg, progress=False)
        assert torch.get_num_threads() == 2 and faiss.omp_get_max_threads() == 2  # restored
    finally:
        faiss.omp_set_num_threads(faiss_threads)
    assert tokenizer_version(one) == tokenizer_version(two)
    np.testing.assert_array_equal(one.encode(x), two.encode(x))


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_overwrite_fits_the_same_tokenizer_without_a_copy(clustered, method):
    x, _ = clustered
    cfg = RQVAEConfig(method=method, levels=2, **FAST)
    ref, ref_stats = fit(x, config=cfg, progress=False)
    given = x.astype(np.float32, copy=True)
    tok, stats = fit(given, config=cfg, progress=False, overwrite=True)
    assert tokenizer_version(tok) == tokenizer_version(ref)
    np.testing.assert_array_equal(tok.encode(x), ref.encode(x))
    assert stats.health.to_dict() == ref_stats.health.to_dict()
    np.testing.assert_allclose(given, tok.standardize(x), rtol=1e-6, atol=1e-6)  # the input was used in place


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_encode_standardized_equals_encode_of_the_raw_vectors(clustered, method):
    x, _ = clustered
    tok, _ = fit(x, config=RQVAEConfig(method=method, levels=2, **FAST), progress=False)
    np.testing.assert_array_equal(tok.encode_standardized(tok.standardize(x)), tok.encode(x))


@pytest.mark.parametrize("method", ["rqvae", "rqkmeans"])
def test_decode_standardized_is_decode_in_the_standardised_space(clustered, method):
    x, _ = clustered
    tok, _ = fit(x, config=RQVAEConfig(method=method, levels=2, **FAST), progress=False)
    codes = tok.encode(x)
    np.testing.assert_allclose(tok.decode_standardized(codes), tok.standardize(tok.decode(codes)), rtol=1e-5, atol=1e-5)
