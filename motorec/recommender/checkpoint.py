"""Recommender checkpoints: a directory of config.json, weights.safetensors, meta.json and Parquet maps.

- config.json: the `RecommenderConfig` (the model is rebuilt from it, as nanoGPT does);
- weights.safetensors: the encoder's state (no pickle anywhere);
- meta.json: format, sizes, per-modality parameter specs, and the tokenizer version each content
  modality was trained on;
- users.parquet (user_id, row), items.parquet (item_id, row, has_id), train.parquet (user_row,
  item_row): the id maps and the training graph, so a loaded checkpoint can score and exclude seen items.

Loading against a different current tokenizer version is refused (the codes would mean something else)
unless `allow_version_mismatch=True`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from motorec.atomic import atomic_dir
from motorec.configbase import from_dict, to_dict
from motorec.errors import ArtifactError, ConfigError
from motorec.recommender.config import RecommenderConfig
from motorec.recommender.graph import normalized_adjacency
from motorec.recommender.index import IdIndex
from motorec.recommender.inputs import ModalityInputs, ModalitySpec, check_content
from motorec.recommender.model import MultiSourceGNN
from motorec.recommender.recommend import Scorer

FORMAT = "motorec.recommender/1"
_FILES = (
    "config.json",
    "weights.safetensors",
    "meta.json",
    "users.parquet",
    "items.parquet",
    "train.parquet",
)


@dataclass
class Checkpoint:
    """A loaded recommender with its id maps and training graph."""

    model: MultiSourceGNN
    config: RecommenderConfig
    users: IdIndex
    items: IdIndex
    train: tuple[np.ndarray, np.ndarray]
    item_has_id: np.ndarray
    tokenizer_versions: dict[str, str]
    meta: dict

    def adjacency(self) -> torch.Tensor:
        return normalized_adjacency(*self.train, len(self.users), len(self.items), self.config.device)

    def scorer(
        self, content: dict[str, ModalityInputs], extra_content: dict[str, ModalityInputs] | None = None
    ) -> Scorer:
        """Encode once with content rows in the checkpoint's item order (plus items added since)."""
        if self.model.has_content:
            check_content(content, len(self.items), self.model.specs)
        has_id = torch.as_tensor(self.item_has_id, device=self.config.device)
        return Scorer.from_model(self.model, self.adjacency(), content, has_id, extra_content)


def save_checkpoint(
    directory: str | os.PathLike,
    model: MultiSourceGNN,
    users: IdIndex,
    items: IdIndex,
    train: tuple[np.ndarray, np.ndarray],
    tokenizer_versions: dict[str, str] | None = None,
    extra_meta: dict | None = None,
) -> Path:
    """Write a checkpoint directory atomically (it must not exist yet).

    Args:
        directory: target directory.
        model: the trained encoder (its config is saved with it).
        users: the id map of the model's user rows.
        items: the id map of the model's item rows.
        train: (user_idx, item_idx) training interactions (the graph).
        tokenizer_versions: {modality: tokenizer version} the content came from.
        extra_meta: JSON-ready facts to keep (best epoch, validation metric, ...).

    Raises:
        ArtifactError: a content modality has no tokenizer version, or sizes disagree.
    """
    versions = dict(tokenizer_versions or {})
    if model.config.content == "codes":
        missing = sorted(set(model.modalities) - set(versions))
        if missing:
            raise ArtifactError(f"no tokenizer version given for modalities {missing}")
    if (len(users), len(items)) != (model.n_users, model.n_items):
        raise ArtifactError(
            f"model has {model.n_users} users / {model.n_items} items, maps have {len(users)} / {len(items)}"
        )
    u, i = (np.asarray(a, dtype=np.int64) for a in train)
    has_id = np.bincount(i, minlength=len(items)) > 0
    meta = {
        "format": FORMAT,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "specs": {m: asdict(s) for m, s in model.specs.items()},
        "tokenizer_versions": versions,
        **(extra_meta or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    target = Path(directory)
    with atomic_dir(target) as tmp:
        (tmp / "config.json").write_text(json.dumps({"format": FORMAT, "config": to_dict(model.config)}, indent=2))
        save_file(state, str(tmp / "weights.safetensors"), metadata={"format": FORMAT})
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        pq.write_table(pa.table({"user_id": users.ids, "row": pa.array(np.arange(len(users)))}), tmp / "users.parquet")
        pq.write_table(
            pa.table({"item_id": items.ids, "row": pa.array(np.arange(len(items))), "has_id": pa.array(has_id)}),
            tmp / "items.parquet",
        )
        pq.write_table(pa.table({"user_row": u, "item_row": i}), tmp / "train.parquet")
    return target


def _check_versions(saved: dict[str, str], current: dict[str, str] | None, allow: bool, where: Path) -> None:
    if current is None or allow:
        return
    for modality, version in sorted(saved.items()):
        now = current.get(modality)
        if now != version:
            raise ArtifactError(
                f"checkpoint {where} was trained on tokenizer version {version} for modality {modality!r}, "
                f"but the current version is {now}; retrain the recommender, or pass "
                f"allow_version_mismatch=True to score the new codes with the old model"
            )


def load_checkpoint(
    directory: str | os.PathLike,
    current_versions: dict[str, str] | None = None,
    allow_version_mismatch: bool = False,
    device: str = "cpu",
) -> Checkpoint:
    """Load a checkpoint written by `save_checkpoint`.

    Args:
        directory: the checkpoint directory.
        current_versions: {modality: current tokenizer version}; None skips the version check.
        allow_version_mismatch: load even if a version differs.
        device: where the model goes.

    Raises:
        ArtifactError: missing or corrupted files, an unknown format, or a tokenizer version mismatch.
    """
    src = Path(directory)
    missing = [f for f in _FILES if not (src / f).is_file()]
    if missing:
        raise ArtifactError(f"checkpoint {src} is incomplete: missing {missing}")
    try:
        cfg_json = json.loads((src / "config.json").read_text())
        meta = json.loads((src / "meta.json").read_text())
        if cfg_json.get("format") != FORMAT or meta.get("format") != FORMAT:
            raise ArtifactError(f"checkpoint {src}: unknown format, expected {FORMAT}")
        _check_versions(meta["tokenizer_versions"], current_versions, allow_version_mismatch, src)
        # checkpoints written before `code_tables` / `id_gate` / `propagate_user_content` / `cl_every`
        # existed were all trained with free code tables, per-dimension gates, propagated user content
        # vectors and InfoNCE on every step
        old = {"code_tables": True, "id_gate": "vector", "propagate_user_content": True, "cl_every": 1}
        saved = {**old, **cfg_json["config"], "device": device}
        config = from_dict(RecommenderConfig, saved, where=f"{src}/config.json")
        specs = {m: ModalitySpec(**s) for m, s in meta["specs"].items()}
        model = MultiSourceGNN(meta["n_users"], meta["n_items"], specs, config)
        model.load_state_dict(load_file(str(src / "weights.safetensors")), strict=True)
        users_t, items_t = pq.read_table(src / "users.parquet"), pq.read_table(src / "items.parquet")
        train_t = pq.read_table(src / "train.parquet")
    except ArtifactError:
        raise
    except (OSError, KeyError, TypeError, ValueError, RuntimeError, ConfigError, pa.ArrowException) as exc:
        raise ArtifactError(f"checkpoint {src} cannot be loaded: {exc}") from exc
    users = IdIndex(users_t.sort_by("row").column("user_id"), "user")
    items_t = items_t.sort_by("row")
    items = IdIndex(items_t.column("item_id"), "item")
    train = (train_t.column("user_row").to_numpy(), train_t.column("item_row").to_numpy())
    model.to(device).eval()
    return Checkpoint(
        model,
        config,
        users,
        items,
        train,
        items_t.column("has_id").to_numpy(zero_copy_only=False),
        dict(meta["tokenizer_versions"]),
        meta,
    )
