"""Image (and optional CLIP text) embeddings with open_clip, decoding in DataLoader workers.

Weights come from a pretrained tag already in the local cache, a local checkpoint file, or, only when
`pretrained == "none"`, a seeded random initialisation (for tests). Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from motorec.errors import ConfigError
from motorec.pipeline.config import PipelineConfig
from motorec.pipeline.hashing import file_sha256
from motorec.pipeline.imagesource import ImageInput, ImageLimits, ImageLoadError, load_image
from motorec.pipeline.text import hub_offline

log = logging.getLogger(__name__)
RANDOM_INIT = "none"
_SEED = 0


@dataclass(frozen=True)
class ImageEmbedding:
    """Result of `ImageEmbedder.embed`.

    Attributes:
        vectors: (N, D) float32, L2-normalised where `ok`, zero rows where the item failed.
        ok: (N,) bool, True where the image was embedded.
        errors: (index into the inputs, reason) for every failed item, in input order.
    """

    vectors: np.ndarray
    ok: np.ndarray
    errors: list[tuple[int, str]]


class _Decoded:
    """Map-style dataset run inside DataLoader workers: fetch, decode and preprocess one image."""

    def __init__(self, sources: Sequence[ImageInput], root: Path | None, limits: ImageLimits, transform):
        self.sources, self.root, self.limits, self.transform = sources, root, limits, transform

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            return i, self.transform(load_image(self.sources[i], self.root, self.limits)), None
        except ImageLoadError as exc:
            return i, None, str(exc)
        except Exception as exc:  # a per-item failure must never abort the batch
            return i, None, f"{type(exc).__name__}: {exc}"


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]):
    good = [(i, x) for i, x, _ in items if x is not None]
    errors = [(i, reason) for i, x, reason in items if x is None]
    pixels = torch.stack([x for _, x in good]) if good else None  # (B', 3, S, S)
    return [i for i, _ in good], pixels, errors


def _cached_tag_file(pcfg: dict[str, Any]) -> str | None:
    """Find the local file of a pretrained tag's weights, if already downloaded (never downloads)."""
    if pcfg.get("file"):
        return pcfg["file"] if os.path.isfile(pcfg["file"]) else None
    if pcfg.get("hf_hub"):
        from huggingface_hub import hf_hub_download
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo, filename = os.path.split(pcfg["hf_hub"])  # "org/repo/" means the default file names
        names = [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME] if not filename else [filename]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for fname in names:
            try:
                return hf_hub_download(repo_id=repo, filename=fname, local_files_only=True)
            except Exception:  # not in the cache under this name
                continue
    if pcfg.get("url"):
        path = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(pcfg["url"]))
        return path if os.path.isfile(path) else None
    return None


def _resolve_weights(name: str, pretrained: str) -> tuple[str | None, str, dict[str, Any]]:
    """Resolve `pretrained` to (local checkpoint or None, weights description, preprocessing overrides)."""
    import open_clip

    if pretrained == RANDOM_INIT:
        log.warning("image_pretrained = 'none': %s has random weights; its embeddings mean nothing", name)
        return None, RANDOM_INIT, {}
    if os.path.isfile(pretrained):
        return pretrained, f"file-{file_sha256(pretrained)[:16]}", {}
    pcfg = open_clip.get_pretrained_cfg(name, pretrained)
    if not pcfg:
        raise ConfigError(
            f"image_pretrained {pretrained!r} is neither a pretrained tag of {name} "
            f"({', '.join(open_clip.list_pretrained_tags_by_model(name)) or 'none known'}) "
            f'nor an existing checkpoint file; set image_pretrained = "/path/to/checkpoint"'
        )
    checkpoint = _cached_tag_file(pcfg)
    if checkpoint is None:
        where = pcfg.get("hf_hub") or pcfg.get("url") or pretrained
        raise ConfigError(
            f"weights for image_model {name!r} / image_pretrained {pretrained!r} are not on this "
            f"machine and MoToRec never downloads them. Download the checkpoint once ({where}) and "
            f'set image_pretrained = "/path/to/open_clip_pytorch_model.bin" (a local file) in '
            f'motorec.toml; for tests only, image_pretrained = "none" gives random weights'
        )
    overrides = {  # the tag's own preprocessing, as open_clip would apply it when loading by tag
        "image_mean": pcfg.get("mean"),
        "image_std": pcfg.get("std"),
        "image_interpolation": pcfg.get("interpolation"),
        "image_resize_mode": pcfg.get("resize_mode"),
        "force_quick_gelu": bool(pcfg.get("quick_gelu", False)),
    }
    return checkpoint, pretrained, overrides


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def _state_fingerprint(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        h.update(key.encode() + b"\0" + tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ImageEmbedder:
    """L2-normalised open_clip image embeddings (and CLIP text embeddings) of catalog items.

    Args:
        model: An open_clip model name, or a path to an open_clip model-config JSON file (it is registered
            with `open_clip.add_model_config` under its file stem).
        pretrained: A pretrained tag whose weights are in the local cache, a local checkpoint file, or
            exactly "none" for random weights seeded with 0 (a warning is logged).
        batch_size: Images per forward pass.
        workers: DataLoader worker processes decoding images while the model runs (0: in-process).
        device: "cpu" or "cuda[:i]".
        limits: Size, pixel and timeout limits for every image.
        template: The text template CLIP texts are rendered from (part of `text_encoder_id` only).

    Raises:
        ConfigError: unknown model, unknown tag, weights not available locally (the message says how to
            point `image_pretrained` at a local checkpoint file), or a checkpoint that does not fit.
    """

    def __init__(
        self,
        model: str = "ViT-B-32",
        pretrained: str = "laion2b_s34b_b79k",
        *,
        batch_size: int = 32,
        workers: int = 2,
        device: str = "cpu",
        limits: ImageLimits | None = None,
        template: str = "{title}\n{description}",
    ) -> None:
        hub_offline()
        import open_clip

        self.batch_size, self.workers, self.device = batch_size, workers, torch.device(device)
        self.limits = limits or ImageLimits()
        name = model
        if model.endswith(".json") or os.path.isfile(model):
            if not os.path.isfile(model):
                raise ConfigError(f"image_model {model!r}: model-config file not found")
            open_clip.add_model_config(model)
            name = Path(model).stem
        model_cfg = open_clip.get_model_config(name)
        if model_cfg is None:
            raise ConfigError(
                f"image_model {model!r} is neither an open_clip model "
                f"(e.g. {', '.join(open_clip.list_models()[:5])}, ...) nor a model-config JSON file"
            )
        checkpoint, weights, kwargs = _resolve_weights(name, pretrained)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_SEED)
                clip, _, self.transform = open_clip.create_model_and_transforms(
                    name, pretrained=checkpoint, device=self.device, **kwargs
                )
        except Exception as exc:  # torch.load and load_state_dict raise many types for a bad file
            raise ConfigError(f"image_model {name!r}: cannot load weights {pretrained!r} ({_first_line(exc)})") from exc
        self._model = clip.eval()
        self.name = name
        self.dim: int = int(model_cfg["embed_dim"])
        self._tokenizer = None
        if weights == RANDOM_INIT:
            weights = f"none-seed{_SEED}-{_state_fingerprint(clip)[:16]}"
        spec = {
            "model_cfg": model_cfg,
            "weights": weights,
            "normalize": "l2",
            "preprocess": {k: list(v) if isinstance(v, tuple) else v for k, v in clip.visual.preprocess_cfg.items()},
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self._encoder_id = f"open_clip:{name}:{Path(pretrained).name}:{digest}"
        text_spec = f"{digest}\0{template}\0{model_cfg['text_cfg'].get('context_length', 77)}"
        self._text_encoder_id = f"open_clip-text:{name}:{hashlib.sha256(text_spec.encode()).hexdigest()[:16]}"

    @classmethod
    def from_config(cls, cfg: PipelineConfig) -> ImageEmbedder:
        """Build from the image_* fields, url_timeout_s, max_image_*, device and text_template of `cfg`."""
        limits = ImageLimits(cfg.url_timeout_s, cfg.max_image_bytes, cfg.max_image_pixels)
        return cls(
            cfg.image_model,
            cfg.image_pretrained,
            batch_size=cfg.image_batch_size,
            workers=cfg.image_workers,
            device=cfg.device,
            limits=limits,
            template=cfg.text_template,
        )

    @property
    def encoder_id(self) -> str:
        """Stable id of the image encoder: model, weights (tag, file hash or seeded init), preprocessing."""
        return self._encoder_id

    @property
    def text_encoder_id(self) -> str:
        """Stable id of the CLIP text encoder: the image encoder's digest, template and context length."""
        return self._text_encoder_id

    def embed(self, sources: Sequence[ImageInput], root: str | Path | None = None) -> ImageEmbedding:
        """Fetch, decode and embed images; a failing item is reported, never fatal.

        Args:
            sources: Per item a path (relative to `root`, which it may not leave), an http(s) URL, encoded
                bytes, or None (reported as "no image given").
            root: Folder for relative paths (usually `imagesource.default_image_root`).

        Shapes:
            sources: N items -> vectors (N, D) float32 (unit norm where ok, zero elsewhere), ok (N,) bool.
        """
        n = len(sources)
        vectors = np.zeros((n, self.dim), dtype=np.float32)
        ok = np.zeros(n, dtype=bool)
        errors: list[tuple[int, str]] = []
        if n == 0:
            return ImageEmbedding(vectors, ok, errors)
        dataset = _Decoded(sources, Path(root) if root is not None else None, self.limits, self.transform)
        workers = min(self.workers, -(-n // self.batch_size))
        loader = DataLoader(
            dataset,
            batch_size=self.batch_size,
            num_workers=workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
        )
        for idx, pixels, failed in loader:
            errors += failed
            if pixels is None:
                continue
            with torch.inference_mode():
                out = self._model.encode_image(pixels.to(self.device, non_blocking=True), normalize=True)
            vectors[idx] = out.float().cpu().numpy()  # (B', D)
            ok[idx] = True
        errors.sort()
        return ImageEmbedding(vectors, ok, errors)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """CLIP text-tower embeddings, L2-normalised (the optional clip_text modality).

        Shapes:
            texts: N strings -> (N, D) float32.
        """
        if self._tokenizer is None:
            import open_clip

            self._tokenizer = open_clip.get_tokenizer(self.name)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            tokens = self._tokenizer(list(texts[start : start + self.batch_size])).to(self.device)  # (B, T)
            with torch.inference_mode():
                emb = self._model.encode_text(tokens, normalize=True)  # (B, D)
            out[start : start + len(tokens)] = emb.float().cpu().numpy()
        return out
