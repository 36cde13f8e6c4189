"""The recommender against a store: content from current codes, train / recommend / evaluate.

This is the IO edge of the recommender: it reads codes and tokenizers from the store, interactions from
Parquet, and turns them into the tensors the model takes; checkpoints are written into the store.

Glossary: U users, N items, L levels, E latent dim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from motorec.config import MotorecConfig
from motorec.errors import InputError, StoreError
from motorec.pipeline.encode import codes_from_arrow
from motorec.pipeline.store import Store, fetch_arrow, resolve_store
from motorec.recommender.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from motorec.recommender.index import IdIndex
from motorec.recommender.inputs import ModalityInputs
from motorec.recommender.metrics import evaluate_ranking, group_by_user, tie_permutation
from motorec.recommender.recommend import recommend as rank
from motorec.recommender.train import fit
from motorec.tokenizer import load_tokenizer


@dataclass
class StoreContent:
    """Items that have current codes, in sorted item_id order, and their per-modality content."""

    items: IdIndex
    content: dict[str, ModalityInputs]
    versions: dict[str, str]


def _read_interactions(path: str | Path, id_type: pa.DataType, what: str) -> pa.Table:
    p = Path(path)
    try:
        table = pq.read_table(p)
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {p}") from None
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{p}: not a readable Parquet file ({exc})") from exc
    for col in ("user_id", "item_id"):
        if col not in table.column_names:
            raise InputError(f"{p}: missing required column {col!r} (have {table.column_names})")
        if table.column(col).null_count:
            raise InputError(f"{p}: column {col!r} has {table.column(col).null_count} null values")
    try:
        item = table.column("item_id").cast(id_type)
    except pa.ArrowException as exc:
        raise InputError(f"{p}: item_id cannot be read as the store's {id_type} ids ({exc})") from exc
    return pa.table({"user_id": table.column("user_id"), "item_id": item})


def load_content(st: Store, device: str = "cpu") -> StoreContent:
    """Current codes of every modality, and the quantised vectors rebuilt from them by the tokenizers."""
    id_type = pa.int64() if st.get_meta("item_id_type") == "int64" else pa.string()
    versions = dict(st.con.execute("SELECT modality, version FROM t_tokenizer_versions WHERE is_current "
                                   "ORDER BY modality").fetchall())
    if not versions:
        raise StoreError(f"store {st.root} has no codes yet: run `motorec tokenize CATALOG` first")
    ids = fetch_arrow(st.con.execute(
        "SELECT DISTINCT item_id FROM t_item_codes c JOIN t_tokenizer_versions v USING (modality, version) "
        "WHERE v.is_current")).column(0).cast(id_type)
    ids = ids.take(pc.sort_indices(ids))
    items = IdIndex(ids, "item")
    content = {}
    for modality, version in versions.items():
        tok = load_tokenizer(st.tokenizer_dir(modality, version), expected_version=version)
        t = fetch_arrow(st.con.execute("SELECT item_id, codes FROM t_item_codes WHERE modality = ? AND version = ?",
                                       [modality, version]))
        rows = items.lookup(t.column("item_id").cast(id_type))
        codes = np.zeros((len(items), tok.levels), np.int64)  # (N, L)
        codes[rows] = codes_from_arrow(t.column("codes"), tok.levels)
        mask = np.zeros(len(items), bool)
        mask[rows] = True
        with torch.inference_mode():
            z_q = tok._lookup(torch.from_numpy(codes)).numpy()  # (N, E)
        z_q[~mask] = 0.0
        content[modality] = ModalityInputs.from_numpy(mask, codes, z_q, codebook_size=tok.codebook_size)
    return StoreContent(items, {m: c.to(device) for m, c in content.items()}, versions)


@dataclass
class TrainSummary:
    run_id: int
    checkpoint: Path
    users: int
    items: int
    interactions: int
    unknown_items: int
    best_epoch: int
    best_valid: float
    seconds_per_epoch: float
    history: list[dict] = field(default_factory=list)


def _known(table: pa.Table, items: IdIndex) -> tuple[pa.Table, int]:
    known = pc.is_in(table.column("item_id"), value_set=items.ids)
    return table.filter(known), int(len(table) - pc.sum(known).as_py() if len(table) else 0)


def train(interactions: str | Path, store: str | Path | None = None, config: MotorecConfig | None = None, *,
          valid: str | Path | None = None, progress: bool = True) -> TrainSummary:
    """Train the recommender on interactions against the store's current codes; save a checkpoint."""
    cfg = config or MotorecConfig()
    rc = cfg.recommender
    with Store.open(resolve_store(store), memory_limit=cfg.store.memory_limit) as st:
        sc = load_content(st, rc.device)
        id_type = sc.items.ids.type
        tr, unknown = _known(_read_interactions(interactions, id_type, "interactions"), sc.items)
        if tr.num_rows == 0:
            raise InputError(f"{interactions}: no interaction names an item with codes in {st.root}")
        va = None
        if valid is not None:
            va, _ = _known(_read_interactions(valid, id_type, "validation"), sc.items)
        users = IdIndex.from_sorted_union([tr.column("user_id")] + ([va.column("user_id")] if va else []), "user")
        train_idx = (users.lookup(tr.column("user_id")), sc.items.lookup(tr.column("item_id")))
        valid_idx = (users.lookup(va.column("user_id")), sc.items.lookup(va.column("item_id"))) if va else None
        run_id = st.begin_run("train")
        try:
            result = fit(train_idx, len(users), len(sc.items), sc.content, rc, valid=valid_idx, progress=progress)
            target = st.root / "checkpoints" / f"run-{run_id:06d}"
            save_checkpoint(target, result.model, users, sc.items, train_idx, sc.versions,
                            {"best_epoch": result.best_epoch, "best_valid": result.best_valid})
            summary = TrainSummary(run_id, target, len(users), len(sc.items), tr.num_rows, unknown,
                                   result.best_epoch, result.best_valid, result.seconds_per_epoch, result.history)
            with st.transaction() as con:
                con.execute("DELETE FROM t_interactions")
                con.register("_tr", tr)
                con.execute("INSERT INTO t_interactions SELECT CAST(user_id AS VARCHAR), CAST(item_id AS VARCHAR), "
                            "NULL, NULL FROM _tr")
                con.unregister("_tr")
                st.set_meta("current_checkpoint", target.name)
                st.finish_run(run_id, "ok", {k: v for k, v in summary.__dict__.items() if k != "history"})
        except BaseException:
            st.finish_run(run_id, "failed", {})
            raise
    return summary


def _open_checkpoint(st: Store, device: str, allow_mismatch: bool) -> tuple[Checkpoint, StoreContent, object]:
    name = st.get_meta("current_checkpoint")
    if name is None:
        raise StoreError(f"store {st.root} has no trained recommender: run `motorec train INTERACTIONS` first")
    sc = load_content(st, device)
    ckpt = load_checkpoint(st.root / "checkpoints" / name, sc.versions, allow_mismatch, device)
    # items tokenized after training are appended as rows N, N+1, ...: no ID, no edges, codes only
    known = pc.is_in(sc.items.ids, value_set=ckpt.items.ids)
    rows_old = sc.items.lookup(ckpt.items.ids)
    content = {m: c.rows(torch.as_tensor(rows_old)) for m, c in sc.content.items()}
    new_rows = np.flatnonzero(~known.to_numpy(zero_copy_only=False))
    extra = {m: c.rows(torch.as_tensor(new_rows)) for m, c in sc.content.items()} if len(new_rows) else None
    scorer = ckpt.scorer(content, extra)
    all_items = IdIndex(pa.concat_arrays([ckpt.items.ids, sc.items.ids.take(pa.array(new_rows, pa.int64()))]),
                        "item")
    return ckpt, StoreContent(all_items, {}, sc.versions), scorer


def recommend(store: str | Path | None, user_ids: list, *, k: int = 20, candidates: str | Path | None = None,
              include_seen: bool = False, config: MotorecConfig | None = None,
              allow_version_mismatch: bool = False) -> pa.Table:
    """Top-k (user_id, item_id, rank, score) over every item with codes, cold items included."""
    cfg = config or MotorecConfig()
    with Store.open(resolve_store(store), memory_limit=cfg.store.memory_limit) as st:
        ckpt, sc, scorer = _open_checkpoint(st, cfg.recommender.device, allow_version_mismatch)
        cand = None
        if candidates is not None:
            cand = _read_ids(candidates, sc.items.ids.type)
        users = pa.array(user_ids).cast(ckpt.users.ids.type) if user_ids else ckpt.users.ids
        return rank(scorer.score, ckpt.users, sc.items, users, k=k, seen=ckpt.train, exclude_seen=not include_seen,
                    candidates=cand)


def _read_ids(path: str | Path, id_type: pa.DataType) -> pa.Array:
    try:
        t = pq.read_table(path, columns=["item_id"])
    except (FileNotFoundError, pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: cannot read an item_id column ({exc})") from exc
    return t.column("item_id").cast(id_type).combine_chunks()


def evaluate(test: str | Path, store: str | Path | None = None, *, ks: tuple[int, ...] = (10, 20),
             candidates: str | Path | None = None, config: MotorecConfig | None = None, model: str = "motorec",
             allow_version_mismatch: bool = False) -> pa.Table:
    """Full-ranking Recall/NDCG on held-out interactions, overall and by item-degree bucket; stored too.

    Buckets by training degree: cold (0), long_tail (1-9), warm (>= 10); training items are excluded.
    """
    cfg = config or MotorecConfig()
    with Store.open(resolve_store(store), memory_limit=cfg.store.memory_limit) as st:
        ckpt, sc, scorer = _open_checkpoint(st, cfg.recommender.device, allow_version_mismatch)
        t, unknown = _known(_read_interactions(test, sc.items.ids.type, "test"), sc.items)
        t = t.filter(pc.is_in(t.column("user_id").cast(ckpt.users.ids.type), value_set=ckpt.users.ids))
        if t.num_rows == 0:
            raise InputError(f"{test}: no interaction of a known user with an item that has codes")
        u = ckpt.users.lookup(t.column("user_id").cast(ckpt.users.ids.type))
        i = sc.items.lookup(t.column("item_id"))
        n_users, n_items = len(ckpt.users), len(sc.items)
        degree = np.zeros(n_items, np.int64)
        degree[: len(ckpt.items)] = np.bincount(ckpt.train[1], minlength=len(ckpt.items))
        cand = sc.items.lookup(_read_ids(candidates, sc.items.ids.type)) if candidates is not None else None
        exclude = group_by_user(*ckpt.train, n_users)
        perm = tie_permutation(n_items, 0)
        buckets = {"all": np.ones(len(i), bool), "cold": degree[i] == 0,
                   "long_tail": (degree[i] > 0) & (degree[i] < 10), "warm": degree[i] >= 10}
        rows = []
        for setting, keep in buckets.items():
            if not keep.any():
                continue
            res = evaluate_ranking(scorer.score, (u[keep], i[keep]), n_users, n_items, ks, exclude, cand, perm)
            rows += [{"model": model, "setting": setting, "metric": m, "k": k, "value": float(v),
                      "users": int(len(np.unique(u[keep])))} for (m, k), v in sorted(res.items())]
        table = pa.Table.from_pylist(rows)
        run_id = st.begin_run("evaluate")
        with st.transaction() as con:
            con.register("_ev", table)
            con.execute("INSERT INTO t_evaluations SELECT ?, model, setting, metric, k, value FROM _ev", [run_id])
            con.unregister("_ev")
            st.finish_run(run_id, "ok", {"test": str(test), "unknown_items": unknown, "rows": table.num_rows,
                                         "results": json.loads(json.dumps(rows))})
        return table


WARM = "warm"  # candidates: the items with training interactions, as `evaluate.protocol` ranks them
SPLIT_SETTINGS = {  # setting -> (ground-truth files, candidates: a file, WARM, or None for every item)
    "warm": (("warm_test",), WARM),
    "long_tail": (("warm_test",), WARM),
    "strict_cold": (("cold_test",), "cold_items"),
    "all": (("warm_test", "cold_test"), None),
}


def evaluate_split(split_dir: str | Path, store: str | Path | None = None, *, ks: tuple[int, ...] = (10, 20),
                   config: MotorecConfig | None = None, baselines: tuple[str, ...] = ("popularity", "contentknn"),
                   extra_scorers: dict | None = None, record: bool = True) -> pa.Table:
    """Evaluate the stored recommender on a `motorec split` folder: warm, long-tail, strict-cold and all.

    The settings of `motorec.recommender.evaluate.protocol`: warm and long_tail (warm test interactions of
    items with fewer than 10 training interactions) rank the items with training interactions, strict_cold
    only the cold items, all every item. Baselines use the same checkpoint's training graph and items: popularity,
    and ContentKNN on the cached embeddings of each current modality (mean over modalities). Results are
    stored in the evaluations table (`record=True`) so `motorec report` shows them side by side.

    Args:
        split_dir: A folder written by `motorec split`.
        store: The store (default resolution as everywhere).
        ks: Cut-offs.
        config: Store and recommender settings.
        baselines: Any of "popularity", "contentknn".
        extra_scorers: {name: callable(ckpt, items IdIndex) -> score_fn} for further models (e.g. LightGCN).
        record: Store the rows in the evaluations table.
    """
    from motorec.recommender.baselines import ContentKNN, Popularity

    cfg = config or MotorecConfig()
    split = Path(split_dir)
    with Store.open(resolve_store(store), memory_limit=cfg.store.memory_limit) as st:
        ckpt, sc, scorer = _open_checkpoint(st, cfg.recommender.device, False)
        id_type = sc.items.ids.type
        n_users, n_items = len(ckpt.users), len(sc.items)
        degree = np.zeros(n_items, np.int64)
        degree[: len(ckpt.items)] = np.bincount(ckpt.train[1], minlength=len(ckpt.items))
        models = {"motorec": scorer.score}
        if "popularity" in baselines:
            models["popularity"] = Popularity(ckpt.train, n_items).score
        if "contentknn" in baselines:
            vecs, mask = _cached_vectors(st, sc.items)
            models["contentknn"] = ContentKNN(ckpt.train, n_users, vecs, mask).score
        for name, make in (extra_scorers or {}).items():
            models[name] = make(ckpt, sc.items)
        exclude = group_by_user(*ckpt.train, n_users)
        perm = tie_permutation(n_items, 0)
        rows = []
        for setting, (files, cand_file) in SPLIT_SETTINGS.items():
            t = pa.concat_tables([_read_interactions(split / f"{f}.parquet", id_type, "test") for f in files])
            t, _ = _known(t, sc.items)
            t = t.filter(pc.is_in(t.column("user_id").cast(ckpt.users.ids.type), value_set=ckpt.users.ids))
            u = ckpt.users.lookup(t.column("user_id").cast(ckpt.users.ids.type))
            i = sc.items.lookup(t.column("item_id"))
            if setting == "long_tail":
                keep = degree[i] < 10
                u, i = u[keep], i[keep]
            if cand_file == WARM:  # cold items must not crowd a warm ranking they are not part of
                cand = np.flatnonzero(degree > 0)
            elif cand_file:
                cand = sc.items.lookup(_read_ids(split / f"{cand_file}.parquet", id_type))
            else:
                cand = None
            for name, fn in models.items():
                res = evaluate_ranking(fn, (u, i), n_users, n_items, ks, exclude, cand, perm)
                rows += [{"model": name, "setting": setting, "metric": m, "k": k, "value": float(v)}
                         for (m, k), v in sorted(res.items())]
        table = pa.Table.from_pylist(rows)
        if record:
            run_id = st.begin_run("evaluate")
            with st.transaction() as con:
                con.register("_ev", table)
                con.execute("INSERT INTO t_evaluations SELECT ?, model, setting, metric, k, value FROM _ev", [run_id])
                con.unregister("_ev")
                st.finish_run(run_id, "ok", {"split": str(split), "rows": table.num_rows})
        return table


def _cached_vectors(st: Store, items: IdIndex) -> tuple[np.ndarray, np.ndarray]:
    """Each item's cached embedding per current modality, L2-normalised and averaged; (N, D), (N,) mask."""
    from motorec.pipeline.store import vectors_from_arrow

    id_type = items.ids.type
    total, mask = None, np.zeros(len(items), bool)
    for (modality,) in st.con.execute("SELECT modality FROM t_tokenizer_versions WHERE is_current").fetchall():
        t = fetch_arrow(st.con.execute(
            "SELECT c.item_id, e.vector FROM t_item_content c JOIN t_embeddings e USING (encoder_id, content_hash) "
            "WHERE c.modality = ? AND c.status = 'ok'", [modality]))
        keep = pc.is_in(t.column("item_id").cast(id_type), value_set=items.ids)
        t = t.filter(keep)
        v = vectors_from_arrow(t.column("vector"))
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        if total is None:
            total = np.zeros((len(items), v.shape[1]), np.float32)
        if v.shape[1] != total.shape[1]:
            continue  # modalities of other widths are not averaged into one space
        rows = items.lookup(t.column("item_id").cast(id_type))
        total[rows] += v
        mask[rows] = True
    return total, mask
