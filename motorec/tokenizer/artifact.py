"""Tokenizer artifacts: a directory with config.json, weights.safetensors and stats.json; no pickle.

The version id is a hash of the config and weights bytes, so identical tokenizers share a version and
any change to either gives a new one; loading re-computes it, which catches a corrupted file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from motorec.atomic import atomic_dir
from motorec.configbase import from_dict, to_dict
from motorec.errors import ArtifactError, ConfigError
from motorec.tokenizer.base import Tokenizer
from motorec.tokenizer.config import LEGACY_DEFAULTS, RQVAEConfig
from motorec.tokenizer.fit import FitStats
from motorec.tokenizer.neural import RQVAETokenizer
from motorec.tokenizer.rqkmeans import RQKMeansTokenizer

FORMAT = "motorec.tokenizer/1"
KINDS: dict[str, type[Tokenizer]] = {"rqvae": RQVAETokenizer, "rqkmeans": RQKMeansTokenizer}


def _serialize(tok: Tokenizer) -> tuple[bytes, bytes]:
    config = {"format": FORMAT, "kind": tok.kind, "input_dim": tok.input_dim, "config": to_dict(tok.config)}
    config_bytes = json.dumps(config, indent=2, sort_keys=True).encode()
    # one metadata key only: safetensors writes its header map in arbitrary order, which would
    # make the bytes (and so the version id) differ between two saves of the same tokenizer
    weights_bytes = st_save(tok.state_tensors(), metadata={"format": FORMAT})
    return config_bytes, weights_bytes


def _version(config_bytes: bytes, weights_bytes: bytes) -> str:
    h = hashlib.sha256()
    h.update(config_bytes)
    h.update(weights_bytes)
    return h.hexdigest()[:16]


def tokenizer_version(tok: Tokenizer) -> str:
    """The content-derived version id of a tokenizer (16 hex characters)."""
    return _version(*_serialize(tok))


def save_tokenizer(tok: Tokenizer, stats: FitStats | dict | None, directory: str | Path) -> str:
    """Write the artifact directory atomically (it must not exist yet); returns the version id."""
    config_bytes, weights_bytes = _serialize(tok)
    version = _version(config_bytes, weights_bytes)
    stats_dict = stats.to_dict() if isinstance(stats, FitStats) else dict(stats or {})
    stats_dict["version"] = version
    with atomic_dir(directory) as tmp:
        (tmp / "config.json").write_bytes(config_bytes)
        (tmp / "weights.safetensors").write_bytes(weights_bytes)
        (tmp / "stats.json").write_text(json.dumps(stats_dict, indent=2, sort_keys=True))
    return version


def load_stats(directory: str | Path) -> dict:
    """The stats.json of an artifact."""
    path = Path(directory) / "stats.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"cannot read tokenizer stats {path}: {exc}") from exc


def load_tokenizer(directory: str | Path, expected_version: str | None = None, device: str = "cpu") -> Tokenizer:
    """Load an artifact; a missing, corrupted or mismatched artifact raises ArtifactError."""
    directory = Path(directory)
    try:
        config_bytes = (directory / "config.json").read_bytes()
        weights_bytes = (directory / "weights.safetensors").read_bytes()
    except OSError as exc:
        raise ArtifactError(f"tokenizer artifact {directory} is incomplete: {exc}") from exc
    version = _version(config_bytes, weights_bytes)
    recorded = load_stats(directory).get("version")
    if recorded != version:
        raise ArtifactError(
            f"tokenizer artifact {directory} is corrupted: its files hash to {version}, stats.json says {recorded}"
        )
    if expected_version is not None and version != expected_version:
        raise ArtifactError(f"tokenizer artifact {directory} has version {version}, expected {expected_version}")
    try:
        meta = json.loads(config_bytes)
        if meta.get("format") != FORMAT:
            raise ArtifactError(f"{directory}/config.json: unknown format {meta.get('format')!r}, expected {FORMAT}")
        cls = KINDS[meta["kind"]]
        config = from_dict(RQVAEConfig, {**LEGACY_DEFAULTS, **meta["config"]}, where=f"{directory}/config.json")
        tensors = st_load(weights_bytes)
        tok = cls.from_state(config, int(meta["input_dim"]), tensors)
    except ArtifactError:
        raise
    except (KeyError, ValueError, RuntimeError, ConfigError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"tokenizer artifact {directory} does not match its config: {exc}") from exc
    return tok.to(device)
