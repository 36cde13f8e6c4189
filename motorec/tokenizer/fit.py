"""Fitting a tokenizer: `fit(vectors, degrees, config) -> (tokenizer, stats)`.

Mini-batch training of the RQ-VAE with PCA initialisation of the encoder/decoder skip paths, k-means
codebook initialisation, dead-code reset, EMA or codebook-loss updates, the sparsity prior, the
tuple-collision term, rarity weights, and early stopping on held-out reconstruction loss: every
`eval_every` steps the held-out MSE is measured and the latest state within `val_tolerance` of the best
is kept. On small catalogs (N < `refit_below`) the chosen number of steps is then trained again on every
item, since a 10% hold-out is a real loss there. Deterministic for the same input and seed on CPU.

Glossary: N items, D input dim, E latent dim, L levels, K codebook size.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import faiss
import numpy as np
import torch
from tqdm.auto import tqdm

from motorec.errors import InputError
from motorec.tokenizer.base import Tokenizer, check_vectors
from motorec.tokenizer.config import RQVAEConfig
from motorec.tokenizer.health import CodeHealth, code_health
from motorec.tokenizer.kmeans import residual_kmeans
from motorec.tokenizer.losses import rarity_weights
from motorec.tokenizer.neural import RQVAETokenizer
from motorec.tokenizer.rqkmeans import fit_rqkmeans
from motorec.tokenizer.rqvae import RQVAE


@dataclass
class FitStats:
    """What fitting did and how healthy the result is (saved as the artifact's stats.json)."""

    method: str
    n_items: int
    input_dim: int
    fit_seconds: float
    health: CodeHealth
    epochs: int = 0
    steps: int = 0
    best_epoch: int = 0
    best_step: int = 0
    best_val_mse: float | None = None
    dead_code_resets: int = 0
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["health"] = self.health.to_dict()
        return d


STD_BLOCK = 64  # columns per np.std call in _standardization


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch and faiss on one CPU thread inside the block, restoring the caller's settings after.

    Why the fit runs single-threaded: the same input and seed must give the same tokenizer on CPU, and a
    multi-threaded BLAS may use fewer threads than asked on a busy machine, which changes the order of
    floating-point sums. Two 2-thread fits of one 30k-item catalog gave two different versions (and so
    a Ray run and a local run disagreed); one thread repeats exactly. The fit's steps (batches of 512,
    an MLP of width 256) are small enough that one thread costs little: on 2 shared cores a 10k-item fit
    took 11.5 s on one thread and 93.6 s on two.
    """
    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


def _standardization(x: np.ndarray, enabled: bool) -> tuple[np.ndarray, np.ndarray]:
    dim = x.shape[1]
    if not enabled:
        return np.zeros(dim, np.float32), np.ones(dim, np.float32)
    mean = x.mean(0, dtype=np.float64).astype(np.float32)
    # by blocks of columns: np.std's float64 (N, D) temporary would be twice x (600 MB at 200k x 384); each
    # column's std is computed exactly as before
    std = np.concatenate([x[:, c : c + STD_BLOCK].std(0, dtype=np.float64) for c in range(0, dim, STD_BLOCK)])
    std = std.astype(np.float32)
    return mean, np.maximum(std, 1e-6).astype(np.float32)


def fit(
    vectors: np.ndarray,
    degrees: np.ndarray | None = None,
    config: RQVAEConfig | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> tuple[Tokenizer, FitStats]:
    """Fit a tokenizer on item vectors.

    Args:
        vectors: (N, D) item embeddings of one modality (rows with NaN/inf are rejected).
        degrees: (N,) training-interaction counts per item, for rarity weights (ARA); None if unknown.
        config: `RQVAEConfig`; `method` picks the RQ-VAE or the RQ-KMeans baseline.
        progress: show a progress bar.
        overwrite: standardise `vectors` in place instead of in a copy, for a caller that gives them up
            (float32 C-contiguous input only; saves one (N, D) copy, 150 MB for a 100k x 384 sample).

    Returns:
        The fitted tokenizer (eval mode, on config.device) and its `FitStats`.
    """
    config = config or RQVAEConfig()
    x = check_vectors(vectors)
    n, dim = x.shape
    k = config.codebook_size
    if k > n:
        raise InputError(f"codebook_size K={k} exceeds the number of items N={n}; choose K well below N")
    if n < 10 * k:
        warnings.warn(f"codebook_size K={k} is not well below N={n} items; many codes will stay unused", stacklevel=2)
    weights = rarity_weights(degrees, n, mode=config.rarity, tau=config.tau)
    mean, std = _standardization(x, config.standardize)
    x_std = x if overwrite and x is vectors else x - mean  # (N, D): the input itself, or one copy
    if x_std is x:
        x_std -= mean
    x_std /= std
    del x  # from here on only the standardised matrix
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    with single_threaded():
        if config.method == "rqkmeans":
            tok: Tokenizer = fit_rqkmeans(x_std, config, mean, std).to(config.device)
            extra: dict = {}
        else:
            tok, extra = _fit_rqvae(x_std, weights, config, mean, std, progress)
    seconds = time.perf_counter() - start
    codes = tok.encode_standardized(x_std)  # (N, L), as tok.encode gives for the raw vectors
    health = code_health(codes, k, x_std, lambda rows: tok.decode_standardized(codes[rows]))
    stats = FitStats(method=config.method, n_items=n, input_dim=dim, fit_seconds=seconds, health=health, **extra)
    return tok, stats


def _fit_rqvae(
    x_std: np.ndarray, weights: np.ndarray, config: RQVAEConfig, mean: np.ndarray, std: np.ndarray, progress: bool
) -> tuple[RQVAETokenizer, dict]:
    n, dim = x_std.shape
    device = torch.device(config.device)
    gen = torch.Generator().manual_seed(config.seed)
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = int(n * config.val_fraction) if n - int(n * config.val_fraction) >= config.codebook_size else 0
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    x_all = torch.from_numpy(x_std).to(device)
    w_all = torch.from_numpy(weights).to(device)
    module, extra = _train(x_all, w_all, train_idx, val_idx, config, gen, progress)
    if n_val and n < config.refit_below:
        # the held-out split chose the step count; now train on every item for that many steps
        torch.manual_seed(config.seed)
        module, refit = _train(x_all, w_all, perm, perm[:0], config, gen, progress, steps=extra["best_step"])
        extra.update(
            steps=extra["steps"] + refit["steps"],
            dead_code_resets=extra["dead_code_resets"] + refit["dead_code_resets"],
            history=extra["history"] + [{**h, "phase": "refit"} for h in refit["history"]],
        )
    return RQVAETokenizer(config, module, mean, std).to(device), extra


def _train(
    x_all: torch.Tensor,
    w_all: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    config: RQVAEConfig,
    gen: torch.Generator,
    progress: bool,
    steps: int | None = None,
) -> tuple[RQVAE, dict]:
    """Train a fresh RQ-VAE on `train_idx`; early stopping on `val_idx` (on `train_idx` when empty).

    With `steps` given: exactly that many steps, no early stopping, the final state is kept.
    """
    device, dim = x_all.device, x_all.shape[1]
    module = RQVAE(dim, config).to(device)
    sample = torch.from_numpy(train_idx[: config.kmeans_sample]).to(device)
    if config.init == "pca":
        _pca_init(module, x_all[sample])
    if config.kmeans_init:
        # k-means initialisation of every level on the encoder's outputs for a training sample
        with torch.no_grad():
            z = module.encoder(x_all[sample]).cpu().numpy()  # (S, E)
        books = residual_kmeans(
            z,
            config.levels,
            config.codebook_size,
            iters=config.kmeans_iters,
            seed=config.seed,
            progressive=config.kmeans_progressive,
        )
        module.quantizer.set_codebooks(torch.from_numpy(np.stack(books)).to(device))  # (L, K, E)

    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    batch = min(config.batch_size, len(train_idx))
    steps_per_epoch = max(1, len(train_idx) // batch)
    total = steps if steps is not None else min(config.max_steps, config.epochs * steps_per_epoch)
    eval_idx = val_idx if len(val_idx) else train_idx
    # `chosen` is the latest state whose held-out MSE is within val_tolerance of the best seen so far:
    # among states that generalise equally well, the most trained one (fewer collisions, better fit)
    chosen = (float("inf"), 0, copy.deepcopy(module.state_dict()))
    best_val = float("inf")
    history, step, resets, stale, running, since = [], 0, 0, 0, 0.0, 0
    bar = tqdm(total=total, desc=f"rqvae L={config.levels} K={config.codebook_size}", disable=not progress, leave=False)
    while step < total and stale < config.patience:
        module.train()
        order = torch.from_numpy(train_idx[torch.randperm(len(train_idx), generator=gen).numpy()])
        for b in range(steps_per_epoch):
            if config.lr_schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            idx = order[b * batch : (b + 1) * batch].to(device)
            out = module(x_all[idx], w_all[idx])
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            if config.codebook_update == "ema":
                module.quantizer.ema_update(out.quantizer)
            step += 1
            resets += module.quantizer.reset_dead_codes(out.quantizer, step, config.dead_code_window, gen)
            running, since = running + float(out.loss.detach()), since + 1
            bar.update(1)
            if step % config.eval_every and step < total:
                continue
            # held-out evaluation and early stopping
            val_mse = _heldout_mse(module, x_all, eval_idx)
            module.train()
            history.append(
                {"step": step, "epoch": -(-step // steps_per_epoch), "train_loss": running / since, "val_mse": val_mse}
            )
            bar.set_postfix(loss=f"{running / since:.4f}", val_mse=f"{val_mse:.4f}")
            running, since = 0.0, 0
            best_val = min(best_val, val_mse)
            if steps is not None or val_mse <= best_val * (1.0 + config.val_tolerance):
                chosen, stale = (val_mse, step, copy.deepcopy(module.state_dict())), 0
            else:
                stale += 1
            if stale >= config.patience or step >= total:
                break
    bar.close()
    module.load_state_dict(chosen[2])
    module.eval()
    extra = {
        "epochs": -(-step // steps_per_epoch),
        "steps": step,
        "best_epoch": -(-chosen[1] // steps_per_epoch),
        "best_step": chosen[1],
        "best_val_mse": chosen[0],
        "dead_code_resets": resets,
        "history": history,
    }
    return module, extra


@torch.no_grad()
def _pca_init(module: RQVAE, x: torch.Tensor) -> None:
    """Start the RQ-VAE as PCA of x (S, D).

    The skip paths project onto and back from the top-E principal directions P and the MLPs' last layers
    are zero, so at step 0 z_e = P (x - m) and recon = P^T z + m.
    """
    enc, dec = module.encoder, module.decoder
    mean = x.mean(0)  # (D,)
    _, _, vt = torch.linalg.svd(x - mean, full_matrices=False)  # (min(S, D), D)
    rows = min(vt.shape[0], enc.skip.weight.shape[0])
    enc.skip.weight[:rows] = vt[:rows]  # (E, D)
    dec.skip.weight[:, :rows] = vt[:rows].T  # (D, E)
    for layer in (enc[enc.depth - 1], dec[dec.depth - 1]):
        layer.weight.zero_()
        layer.bias.zero_()
    enc[enc.depth - 1].bias.copy_(-(enc.skip.weight @ mean))
    dec[dec.depth - 1].bias.copy_(mean)


@torch.no_grad()
def _heldout_mse(module: RQVAE, x_all: torch.Tensor, idx: np.ndarray) -> float:
    """Eval-mode reconstruction MSE (hard codes, decoder) on the items `idx`."""
    module.eval()
    x = x_all[torch.from_numpy(idx).to(x_all.device)]
    recon = module.decode(module.encode(x))
    return float(((recon - x) ** 2).mean())
