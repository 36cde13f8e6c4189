"""Training of the multi-source encoder (METHOD.md §5).

L = L_BPR + lambda_content * L_BPR-content + lambda_cl * L_InfoNCE + lambda_rq * L_tok + lambda_reg * ||Theta_0||^2
where
- L_BPR = -mean log sigmoid(s(u, i) - s(u, j)), one uniform negative j per positive, drawn from the
  items with training interactions (never the user's own);
- L_BPR-content is the same pairs scored with both items' ID parts removed (how a strict-cold item is
  scored), so the content path is trained on every pair, not only on the ID-dropped share;
- L_InfoNCE pulls the content view and the ID view of the same node together against the other nodes
  of the batch (items and users, temperature 0.2, symmetric);
- L_tok is the tokenizer loss under joint fine-tuning (see `joint.py`), 0 otherwise;
- the L2 term covers the layer-0 rows the batch touches, averaged over the batch (as LightGCN).
ID dropout zeroes the ID part of a random share of items at every step, so items without an ID (strict
cold) are scored by a model that has learned to rank from content alone; after training, the offset
of items without ID is calibrated on validation (`calibrate_no_id_bias`). Early stopping follows
validation Recall@20; the best state is restored. Runs are deterministic under `config.seed` on CPU.

Glossary: U users, N items, P training interactions, B batch, S InfoNCE rows, d embedding width.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from motorec.errors import InputError
from motorec.recommender.calibrate import calibrate_no_id_bias
from motorec.recommender.config import RecommenderConfig
from motorec.recommender.graph import item_degrees, normalized_adjacency
from motorec.recommender.inputs import ModalityInputs, check_content
from motorec.recommender.joint import JointTokenizers
from motorec.recommender.metrics import evaluate_ranking, group_by_user
from motorec.recommender.model import Encoded, MultiSourceGNN
from motorec.recommender.recommend import Scorer


@dataclass
class FitResult:
    """A trained encoder with what scoring it needs, and the training record.

    Attributes:
        model: the best encoder (by validation Recall@20, or the last one without validation).
        adj: the training adjacency (U + N, U + N).
        item_has_id: (N,) bool.
        content: the content the model was trained on (after joint fine-tuning: the new codes).
        history: one dict per epoch (epoch, loss, bpr, cl, rq, seconds, and valid_recall@20 when run).
        best_epoch: epoch of the restored state (1-based).
        best_valid: its validation Recall@20 (NaN without validation).
        seconds_per_epoch: mean training seconds per epoch, validation excluded.
        joint: the fine-tuned tokenizers under joint training, else None.
        no_id_shift: the validation calibration added to the model's no-ID offset.
    """

    model: MultiSourceGNN
    adj: torch.Tensor
    item_has_id: torch.Tensor
    content: dict[str, ModalityInputs]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_valid: float = float("nan")
    seconds_per_epoch: float = float("nan")
    joint: JointTokenizers | None = None
    no_id_shift: float = 0.0

    def scorer(self) -> Scorer:
        return Scorer.from_model(self.model, self.adj, self.content, self.item_has_id)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row r of a and row r of b are positives, other rows negatives.

    Leading dimensions are independent problems, computed in one batched product.

    Shapes: a (..., S, d), b (..., S, d) -> (...).
    """
    a = F.normalize(a, dim=-1) / temperature  # scaling (S, d) rows, not the (S, S) logits
    b = F.normalize(b, dim=-1)
    logits = a @ b.transpose(-1, -2)  # (..., S, S)
    # both directions from one logits matrix: a log-softmax over rows and one over columns, no transposed copy
    rows = logits.log_softmax(-1).diagonal(dim1=-2, dim2=-1).mean(-1)
    cols = logits.log_softmax(-2).diagonal(dim1=-2, dim2=-1).mean(-1)
    return -0.5 * (rows + cols)


class NegativeSampler:
    """Uniform negatives from a pool of items, resampled while they hit the user's own positives."""

    def __init__(self, user_idx: np.ndarray, item_idx: np.ndarray, n_items: int, pool: np.ndarray):
        self.n_items, self.pool = n_items, pool
        self.known = np.unique(user_idx * n_items + item_idx)  # sorted keys of positive pairs

    def __call__(self, users: np.ndarray, rng: np.random.Generator, rounds: int = 10) -> np.ndarray:
        neg = self.pool[rng.integers(0, len(self.pool), len(users))]
        for _ in range(rounds):
            keys = users * self.n_items + neg
            pos = np.searchsorted(self.known, keys).clip(max=len(self.known) - 1)
            clash = self.known[pos] == keys
            if not clash.any():
                break
            neg[clash] = self.pool[rng.integers(0, len(self.pool), int(clash.sum()))]
        return neg


def _contrastive(
    enc: Encoded, users: torch.Tensor, items: torch.Tensor, cfg: RecommenderConfig, gen: torch.Generator
) -> torch.Tensor:
    """InfoNCE between content and ID views of the batch's distinct items, plus the same for its users."""
    views = []  # (content (S, d), ID (S, d)) for items, then users; not enc.users: that builds (U, 2 d)
    for rows, content_view, id_view in (
        (items, enc.item_content, enc.item_id),
        (users, enc.user_content, enc.user_id),
    ):
        # the distinct rows, sorted (as torch.unique gives them) by marking them in a length-N mask:
        # cheaper than unique's sort of the whole batch
        rows = torch.zeros(len(content_view), dtype=torch.bool, device=rows.device).index_fill_(0, rows, True)
        rows = rows.nonzero()[:, 0]
        if rows.numel() > cfg.cl_samples:
            rows = rows[torch.randperm(rows.numel(), generator=gen)[: cfg.cl_samples]]
        target = id_view.index_select(0, rows)
        views.append((content_view.index_select(0, rows), target.detach() if cfg.cl_detach_id else target))
    (item_c, item_id), (user_c, user_id) = views
    if item_c.shape == user_c.shape:  # as many item rows as user rows (cl_samples of each, as a rule): batched
        return info_nce(torch.stack([item_c, user_c]), torch.stack([item_id, user_id]), cfg.cl_temperature).sum()
    return info_nce(item_c, item_id, cfg.cl_temperature) + info_nce(user_c, user_id, cfg.cl_temperature)


def batch_loss(
    model: MultiSourceGNN,
    adj: torch.Tensor,
    content: dict[str, ModalityInputs],
    has_id: torch.Tensor,
    keep: torch.Tensor | None,
    u: torch.Tensor,
    i: torch.Tensor,
    j: torch.Tensor,
    cfg: RecommenderConfig,
    gen: torch.Generator,
    with_cl: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of one batch of (user, positive, negative) triples, without the tokenizer term.

    InfoNCE enters at weight lambda_cl * cl_every, on the steps that compute it (`with_cl`, every
    cl_every-th step in `fit`); on the others its part is 0.

    Shapes: u, i, j (B,) -> (), and the unweighted parts {"bpr", "bpr_content", "cl", "reg"} ().
    """
    enc = model(adj, content, has_id, keep)
    # rows are gathered with index_select, not x[idx]: on CPU the advanced-indexing gather and its
    # index_put backward took twice as long on these (B, d) batches (one gather of i and j together
    # took longer again: the backward of the two slices copies the (2 B, d) gradient twice)
    def pair_diff(table: torch.Tensor) -> torch.Tensor:  # (N, w) -> (B, w): row i minus row j
        return table.index_select(0, i) - table.index_select(0, j)

    content_score = None  # h_u . (h_i - h_j): the score difference with both items' ID parts removed
    if enc.join == "concat":  # e = [h; g x]: score the two halves apart, never building (B, 2 d)
        content_score = (enc.user_content.index_select(0, u) * pair_diff(enc.item_content)).sum(1)
        id_score = (enc.user_gated.index_select(0, u) * pair_diff(enc.item_gated)).sum(1)
        score = content_score + id_score  # (B,)
    else:
        eu = enc.users.index_select(0, u)  # (B, d)
        score = (eu * pair_diff(enc.items)).sum(1)
        if enc.join == "sum":  # an item without its ID part is e = h (`MultiSourceGNN.content_only`)
            content_score = (eu * pair_diff(enc.item_content)).sum(1)
    bpr_content = score.new_zeros(())
    if model.has_content:  # b_i = content bias + no-ID offset * absent_i, the second part gathered without gradient
        content_bias_diff = pair_diff(enc.content_bias[:, None])[:, 0]  # (B,)
        score = score + (content_bias_diff + enc.no_id_bias * pair_diff(enc.absent[:, None])[:, 0])
        if cfg.lambda_content > 0:
            bpr_content = -F.logsigmoid(content_score + content_bias_diff).mean()
    bpr = -F.logsigmoid(score).mean()  # the ID-only model has no item bias
    # the L2 term over the batch's rows, with repeats: sum_r count_r ||w_r||^2, no gather of the rows
    n_u, n_i = model.user_id.num_embeddings, model.item_id.num_embeddings
    # counts by index_add of ones, not bincount, which reads the largest index back (a device sync on
    # CUDA); sums of ones are exact in float32, in any order
    ones = score.new_ones(len(u))
    user_count = score.new_zeros(n_u).index_add_(0, u, ones)  # (U,)
    item_count = score.new_zeros(n_i).index_add_(0, i, ones).index_add_(0, j, ones)  # (N,)
    reg = user_count @ model.user_id.weight.square().sum(1) + item_count @ model.item_id.weight.square().sum(1)
    if model.has_content:
        reg = reg + user_count @ model.user_content.weight.square().sum(1)
    reg = reg / (2 * len(u))
    cl, cl_term = bpr.new_zeros(()), 0.0
    if with_cl and cfg.contrastive and model.has_content:
        cl = _contrastive(enc, u, i, cfg, gen)
        cl_term = (cfg.lambda_cl * cfg.cl_every) * cl
    loss = bpr + cfg.lambda_content * bpr_content + cl_term + cfg.lambda_reg * reg
    return loss, {"bpr": bpr, "bpr_content": bpr_content, "cl": cl, "reg": reg}


def _validate(model, adj, content, has_id, valid, n_users, n_items, exclude, candidates) -> float:
    scorer = Scorer.from_model(model, adj, content, has_id)
    result = evaluate_ranking(scorer.score, valid, n_users, n_items, (20,), exclude, candidates)
    return result[("recall", 20)]


def fit(
    train: tuple[np.ndarray, np.ndarray],
    n_users: int,
    n_items: int,
    content: dict[str, ModalityInputs],
    config: RecommenderConfig,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    valid_candidates: np.ndarray | None = None,
    joint: JointTokenizers | None = None,
    progress: bool = True,
) -> FitResult:
    """Train the encoder on (user_idx, item_idx) interactions.

    Args:
        train: (user_idx (P,), item_idx (P,)) training interactions.
        n_users: U.
        n_items: N (the item index includes items without interactions).
        content: per-modality content of the N items (ignored when `config.content == "none"`).
        config: the recommender configuration.
        valid: held-out (user_idx, item_idx) for early stopping on Recall@20; None trains all epochs.
        valid_candidates: items ranked in validation; None ranks all N.
        joint: tokenizers to fine-tune (required when `config.joint`); their codes replace `content`.
        progress: show a tqdm bar with the loss and the validation metric.

    Returns:
        A `FitResult` holding the best model.

    Raises:
        InputError: inconsistent inputs (content shapes, no interactions, joint without tokenizers).
    """
    cfg = config
    u_all, i_all = (np.asarray(a, dtype=np.int64) for a in train)
    if len(u_all) == 0:
        raise InputError("no training interactions")
    if cfg.joint and joint is None:
        raise InputError("config.joint is set but no tokenizers were given to fine-tune")
    if cfg.content != "none" and not cfg.joint:
        if not content:
            raise InputError(f"content={cfg.content!r} needs at least one modality")
        check_content(content, n_items)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    device = torch.device(cfg.device)

    adj = normalized_adjacency(u_all, i_all, n_users, n_items, device)
    degrees = item_degrees(u_all, i_all, n_items)
    has_id = torch.as_tensor(degrees > 0, device=device)
    sampler = NegativeSampler(u_all, i_all, n_items, np.flatnonzero(degrees > 0))
    if cfg.joint:
        joint.prepare(degrees, cfg, device)
        content = joint.content()
    content = {m: c.to(device) for m, c in content.items()} if cfg.content != "none" else {}
    specs = {m: c.spec() for m, c in content.items()}
    model = MultiSourceGNN(n_users, n_items, specs, cfg).to(device)
    encoders = [p for n, p in model.named_parameters() if n.split(".")[0] in ("encoders", "fusion")]
    others = [p for n, p in model.named_parameters() if n.split(".")[0] not in ("encoders", "fusion")]
    params = [
        {"params": others, "lr": cfg.lr},
        {"params": encoders, "lr": cfg.lr, "weight_decay": cfg.content_weight_decay},
    ]
    if cfg.joint:
        params.append({"params": joint.parameters(), "lr": cfg.tokenizer_lr})
    # the fused Adam, one kernel for all parameters: on CPU torch's default loops over the parameters,
    # about a dozen small ops each, which the many small content-side tensors made a tenth of a step
    # (MovieLens-100k, one thread: the update took 0.36 ms of a 10 ms step fused, about 1 ms looped)
    opt = torch.optim.Adam(params, fused=True)
    exclude = group_by_user(u_all, i_all, n_users) if valid is not None else None
    use_dropout = model.has_content and cfg.id_dropout > 0

    result = FitResult(model, adj, has_id, content, joint=joint if cfg.joint else None)
    best_state, best, stale, train_seconds, step = None, -1.0, 0, [], 0
    bar = tqdm(range(1, cfg.epochs + 1), desc="train", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        order = rng.permutation(len(u_all))
        starts = range(0, len(order), cfg.batch_size)
        # the epoch's triples, negatives drawn batch by batch as the steps take them, copied to the device
        # once: on CUDA a copy from pageable host memory waits for the queued steps (three syncs a step)
        negatives = np.concatenate([sampler(u_all[order[s : s + cfg.batch_size]], rng) for s in starts])
        epoch_u, epoch_i, epoch_j = (torch.as_tensor(a, device=device) for a in (u_all[order], i_all[order], negatives))
        # loss, bpr, cl, rq summed on the device in float64, read back once an epoch (not a sync a step)
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        n_batches = n_cl = 0
        for start in starts:
            u, i, j = (t[start : start + cfg.batch_size] for t in (epoch_u, epoch_i, epoch_j))
            rq = torch.zeros((), device=device)
            if cfg.joint:
                content, rq = joint.step_content()
            keep = None
            if use_dropout:
                keep = (torch.rand(n_items, generator=gen) >= cfg.id_dropout).to(device, torch.float32)
            with_cl = step % cfg.cl_every == 0  # lazy InfoNCE: every cl_every-th step, at cl_every times the weight
            loss, parts = batch_loss(model, adj, content, has_id, keep, u, i, j, cfg, gen, with_cl)
            loss = loss + cfg.lambda_rq * rq
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cfg.joint:
                joint.after_step()
            sums += torch.stack([loss, parts["bpr"], parts["cl"], rq]).detach().double()
            n_batches, n_cl, step = n_batches + 1, n_cl + with_cl, step + 1
        totals = dict(zip(("loss", "bpr", "cl", "rq"), sums.tolist(), strict=True))  # waits for the last step
        train_seconds.append(time.perf_counter() - t0)
        counts = {**dict.fromkeys(totals, n_batches), "cl": max(n_cl, 1)}  # cl: over the steps that computed it
        record = {"epoch": epoch, **{k: v / counts[k] for k, v in totals.items()}, "seconds": train_seconds[-1]}
        if cfg.joint:
            content = joint.content()  # eval-mode codes: what validation and scoring use
        if valid is not None and epoch % cfg.eval_every == 0:
            score = _validate(model, adj, content, has_id, valid, n_users, n_items, exclude, valid_candidates)
            record["valid_recall@20"] = score
            if score > best:
                best, stale, result.best_epoch = score, 0, epoch
                best_state = copy.deepcopy(model.state_dict())
                if cfg.joint:
                    result.content, joint_state = content, joint.state()
            else:
                stale += 1
            bar.set_postfix(loss=f"{record['loss']:.4f}", val_r20=f"{score:.4f}", best=f"{best:.4f}")
        else:
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        result.history.append(record)
        if stale >= cfg.patience:
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        result.best_valid = best
        if cfg.joint:
            joint.load_state(joint_state)
    else:
        result.best_epoch = len(result.history)
        result.content = content
    if cfg.calibrate_no_id and valid is not None and model.has_content:
        result.no_id_shift = calibrate_no_id_bias(model, adj, result.content, has_id, valid, exclude, valid_candidates)
    model.eval()
    result.seconds_per_epoch = float(np.mean(train_seconds))
    return result
