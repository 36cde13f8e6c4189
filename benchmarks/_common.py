"""Shared pieces of the recommender benchmarks: peers from cornac, model runs, and the result table.

Every scorer follows the protocol `score(user_idx (B,)) -> (B, N)` over the benchmark's item index, so
one `motorec.recommender.evaluate` call ranks them all the same way (same exclusions, candidates and
tie-breaking permutation).

Glossary: U users, N items, D feature width, B users in a chunk.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from motorec.configbase import replace
from motorec.recommender import IndexedSplit, ModalityInputs, RecommenderConfig, evaluate, fit
from motorec.recommender.evaluate import RESULT_SCHEMA, SETTINGS

UNSCORABLE = -1e9  # what a pure-ID peer gives an item it never saw: below every known item, tied


@dataclass
class RunRecord:
    """One model on one seed: its test table, best validation metric and timings."""

    name: str
    seed: int
    table: pa.Table
    valid: float = float("nan")
    seconds_per_epoch: float = float("nan")
    epochs: int = 0
    extra: dict = field(default_factory=dict)


def validation_pairs(data: IndexedSplit) -> tuple[np.ndarray, np.ndarray]:
    """The "all" validation ground truth: warm and cold validation interactions together."""
    wu, wi = data.parts["warm_valid"]
    cu, ci = data.parts["cold_valid"]
    return np.concatenate([wu, cu]), np.concatenate([wi, ci])


def run_ours(
    name: str,
    data: IndexedSplit,
    content: dict[str, ModalityInputs],
    config: RecommenderConfig,
    seed: int,
    joint=None,
    part: str = "test",
) -> RunRecord:
    """Train with early stopping on "all" validation Recall@20, then evaluate `part`."""
    t0 = time.perf_counter()
    res = fit(
        data.train,
        len(data.users),
        len(data.items),
        content,
        config,
        valid=validation_pairs(data),
        joint=joint,
        progress=False,
    )
    table = evaluate(res.scorer().score, data, name, part=part)
    return RunRecord(
        name,
        seed,
        table,
        res.best_valid,
        res.seconds_per_epoch,
        len(res.history),
        {"best_epoch": res.best_epoch, "wall": time.perf_counter() - t0, "fit": res},
    )


class _CornacScorer:
    """Scores over the benchmark item index from a cornac model trained on re-indexed interactions."""

    def __init__(self, model, uid_map: dict, iid_map: dict, n_items: int):
        self.model = model
        self.user_rows = uid_map  # our user row -> cornac user index
        self.known = np.array(sorted(iid_map), dtype=np.int64)  # our item rows cornac knows
        self.known_idx = np.array([iid_map[i] for i in self.known], dtype=np.int64)
        self.n_items = n_items

    def cold_scores(self, cu: int) -> np.ndarray | float:
        return UNSCORABLE

    def score(self, user_idx: np.ndarray) -> torch.Tensor:
        out = np.full((len(user_idx), self.n_items), UNSCORABLE, dtype=np.float32)
        for row, u in enumerate(user_idx):
            cu = self.user_rows.get(int(u))
            if cu is None:
                continue
            out[row] = self.cold_scores(cu)
            out[row, self.known] = self.model.score(cu)[self.known_idx]
        return torch.from_numpy(out)


def _cornac_train_set(data: IndexedSplit, seed: int):
    import cornac

    triples = [(int(u), int(i), 1.0) for u, i in zip(*data.train, strict=True)]
    ts = cornac.data.Dataset.from_uir(triples, seed=seed)
    uid_map = {int(k): v for k, v in ts.uid_map.items()}
    iid_map = {int(k): v for k, v in ts.iid_map.items()}
    return ts, uid_map, iid_map


def cornac_bpr(data: IndexedSplit, seed: int, k: int = 64, epochs: int = 200, lr: float = 0.01, reg: float = 0.01):
    """cornac's BPR on the training interactions; items it never saw get UNSCORABLE."""
    import cornac

    ts, uid_map, iid_map = _cornac_train_set(data, seed)
    model = cornac.models.BPR(
        k=k, max_iter=epochs, learning_rate=lr, lambda_reg=reg, seed=seed, verbose=False, num_threads=1
    )
    t0 = time.perf_counter()
    model.fit(ts)
    seconds = (time.perf_counter() - t0) / epochs
    return _CornacScorer(model, uid_map, iid_map, len(data.items)), seconds


class VBPRScorer(_CornacScorer):
    """cornac's VBPR; an item it never saw is scored through its features with item bias and factors at 0.

    score(u, i) = beta_i + gamma_u . gamma_i + theta_u . (f_i E) + f_i . beta'  (He & McAuley 2016); for an
    unseen item beta_i = 0 and gamma_i = 0, so only the two feature terms remain.
    """

    def __init__(self, model, uid_map, iid_map, n_items, features: np.ndarray):
        super().__init__(model, uid_map, iid_map, n_items)
        f = np.asarray(features, dtype=np.float32)
        self.theta_items = f @ model.emb_matrix  # (N, k2)
        self.feature_bias = (f @ model.beta_prime).ravel()  # (N,)

    def cold_scores(self, cu: int) -> np.ndarray:
        return self.theta_items @ self.model.theta_user[cu] + self.feature_bias

    def formula_scores(self, cu: int) -> np.ndarray:
        """Our reading of VBPR's score for the items cornac knows, to check against `model.score`."""
        m = self.model
        known = self.cold_scores(cu)[self.known]
        return known + m.beta_item[self.known_idx] + m.gamma_item[self.known_idx] @ m.gamma_user[cu]


def cornac_vbpr(
    data: IndexedSplit,
    features: np.ndarray,
    seed: int,
    k: int = 32,
    k2: int = 32,
    epochs: int = 30,
    lr: float = 0.005,
    lambda_w: float = 0.01,
):
    """cornac's VBPR with `features` (N, D) as its "image" modality; also checks the cold-scoring formula."""
    import cornac
    from cornac.data import ImageModality

    ts, uid_map, iid_map = _cornac_train_set(data, seed)
    raw_ids = [str(i) for i in range(len(data.items))]
    image = ImageModality(features=np.asarray(features, dtype=np.float32), ids=raw_ids, normalized=False)
    image.build(id_map={str(k): v for k, v in iid_map.items()})
    ts.add_modalities(item_image=image)
    model = cornac.models.VBPR(
        k=k,
        k2=k2,
        n_epochs=epochs,
        batch_size=256,
        learning_rate=lr,
        lambda_w=lambda_w,
        lambda_b=0.01,
        seed=seed,
        verbose=False,
    )
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model.fit(ts)
    seconds = (time.perf_counter() - t0) / epochs
    scorer = VBPRScorer(model, uid_map, iid_map, len(data.items), features)
    gap = max(float(np.abs(scorer.formula_scores(cu) - model.score(cu)[scorer.known_idx]).max()) for cu in range(5))
    return scorer, seconds, gap


def summarise(records: list[RunRecord]) -> list[dict]:
    """Mean and std over seeds of every (model, setting, metric, k)."""
    values: dict[tuple, list[float]] = {}
    for rec in records:
        for row in rec.table.to_pylist():
            values.setdefault((rec.name, row["setting"], row["metric"], row["k"]), []).append(row["value"])
    return [
        {
            "model": m,
            "setting": s,
            "metric": me,
            "k": k,
            "mean": float(np.mean(v)),
            "std": float(np.std(v)),
            "n": len(v),
        }
        for (m, s, me, k), v in values.items()
    ]


def markdown_table(records: list[RunRecord], models: list[str]) -> str:
    """Rows (model, setting), columns R@10, R@20, N@10, N@20 (mean ± std over seeds), s/epoch."""
    summary = {(r["model"], r["setting"], r["metric"], r["k"]): r for r in summarise(records)}
    secs: dict[str, list[float]] = {}
    for rec in records:
        secs.setdefault(rec.name, []).append(rec.seconds_per_epoch)
    lines = [
        "| model | setting | R@10 | R@20 | N@10 | N@20 | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    seeds = {m: len({r.seed for r in records if r.name == m}) for m in models}
    most = max(seeds.values(), default=0)
    for model in models:
        label = model if seeds[model] == most else f"{model} ({seeds[model]} seed{'s' if seeds[model] > 1 else ''})"
        for setting in SETTINGS:
            cells = []
            for metric, k in (("recall", 10), ("recall", 20), ("ndcg", 10), ("ndcg", 20)):
                r = summary.get((model, setting, metric, k))
                cells.append("n/a" if r is None else f"{r['mean']:.4f} ± {r['std']:.4f}")
            finite = [x for x in secs.get(model, []) if np.isfinite(x)]
            sec = f"{np.mean(finite):.2f}" if finite and setting == SETTINGS[0] else ""
            lines.append(f"| {label} | {setting} | " + " | ".join(cells) + f" | {sec} |")
    return "\n".join(lines)


def mean_of(records: list[RunRecord], model: str, setting: str, metric: str = "recall", k: int = 20) -> float:
    vals = [
        row["value"]
        for rec in records
        if rec.name == model
        for row in rec.table.to_pylist()
        if (row["setting"], row["metric"], row["k"]) == (setting, metric, k)
    ]
    return float(np.mean(vals)) if vals else float("nan")


def paired_timing(data, runs: dict, rounds: int, epochs: int = 3) -> dict[str, float]:
    """Median training seconds per epoch, alternating the models so that machine load hits both alike."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, (content, config, joint) in runs.items():
            res = fit(
                data.train,
                len(data.users),
                len(data.items),
                content,
                replace(config, epochs=epochs),
                joint=joint,
                progress=False,
            )
            seconds[name] += [h["seconds"] for h in res.history[1:]]  # the first epoch warms caches up
    return {name: float(np.median(v)) for name, v in seconds.items()}


def save_records(path: Path, records: list[RunRecord], timing: dict, lines: list[str]) -> None:
    rows = [
        {
            "name": r.name,
            "seed": r.seed,
            "valid": r.valid,
            "seconds_per_epoch": r.seconds_per_epoch,
            "epochs": r.epochs,
            "table": r.table.to_pylist(),
        }
        for r in records
    ]
    path.write_text(json.dumps({"records": rows, "timing": timing, "log": lines}, indent=1))


def load_records(paths: list[Path]) -> tuple[list[RunRecord], dict, list[str], list[int]]:
    """Records, timing, log lines and seeds of saved runs; the last file that holds a timing gives it
    (list a --timing-only file last)."""
    records, timing, lines = [], {}, []
    for path in paths:
        blob = json.loads(path.read_text())
        for r in blob["records"]:
            table = pa.Table.from_pylist(r["table"], schema=RESULT_SCHEMA)
            records.append(RunRecord(r["name"], r["seed"], table, r["valid"], r["seconds_per_epoch"], r["epochs"]))
        timing = blob["timing"] or timing
        lines += blob["log"]
    return records, timing, lines, sorted({r.seed for r in records})
