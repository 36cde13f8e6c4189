"""Helpers for tests and demos: a tiny open_clip architecture that runs at random init in milliseconds.

`write_tiny_clip_config(folder)` writes its model-config JSON; pointing `image_model` at that file (with
`image_pretrained = "none"`) works in any process, subprocesses of the CLI included.
`register_tiny_clip()` registers it in this process under `TINY_CLIP_NAME`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

TINY_CLIP_NAME = "motorec-tiny-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
"""ViT vision tower (32 px, 8 px patches, width 64, 2 layers), 1-layer text tower, 32-d joint embedding."""


def write_tiny_clip_config(folder: str | Path, name: str = TINY_CLIP_NAME) -> Path:
    """Write the tiny model-config JSON as `folder/<name>.json` and return its path."""
    path = Path(folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(TINY_CLIP_CONFIG, indent=2))
    return path


def register_tiny_clip() -> str:
    """Register the tiny architecture with open_clip in this process (idempotent); return its model name."""
    import open_clip

    if TINY_CLIP_NAME not in open_clip.list_models():
        open_clip.add_model_config(write_tiny_clip_config(tempfile.mkdtemp(prefix="motorec-clip-")))
    return TINY_CLIP_NAME
