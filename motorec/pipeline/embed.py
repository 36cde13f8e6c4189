"""The embedding stage: per catalog batch, hash each modality's inputs, embed only what the cache lacks.

Encoders are built lazily (loading CLIP costs seconds), once per run, and only for modalities the catalog
has. Every source of vectors has an `encoder_id`; the cache is keyed by (encoder_id, content hash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from motorec.pipeline.catalog import ModalitySource
from motorec.pipeline.config import PipelineConfig
from motorec.pipeline.imagesource import default_image_root
from motorec.pipeline.inputs import feature_matrix, image_inputs, render_texts


@dataclass
class Embedded:
    """Vectors for some rows of a batch; rows that failed are listed with the reason."""

    rows: list[int]  # batch row indices that got a vector
    vectors: np.ndarray  # (len(rows), D) float32
    errors: list[tuple[int, str]] = field(default_factory=list)  # (batch row, reason)


class Embedders:
    """The run's encoders, one per kind, built on first use.

    Args:
        cfg: Pipeline settings (models, batch sizes, device, limits).
        catalog_path: The catalog file (relative image paths resolve against its folder by default).
    """

    def __init__(self, cfg: PipelineConfig, catalog_path: str | Path):
        self.cfg = cfg
        self.image_root = default_image_root(catalog_path, cfg.image_root)
        self._text = None
        self._clip = None

    def _text_model(self):
        if self._text is None:
            from motorec.pipeline.text import TextEmbedder

            self._text = TextEmbedder.from_config(self.cfg)
        return self._text

    def _clip_model(self):
        if self._clip is None:
            from motorec.pipeline.image import ImageEmbedder

            self._clip = ImageEmbedder.from_config(self.cfg)
        return self._clip

    def encoder_id(self, source: ModalitySource) -> str:
        """Cache key part naming what turns this modality's inputs into vectors."""
        if source.kind == "feature":
            return f"feature:{source.column}:{source.dim}"
        if source.kind == "text":
            return self._text_model().encoder_id
        if source.kind == "image":
            return self._clip_model().encoder_id
        return self._clip_model().text_encoder_id

    def embed(self, source: ModalitySource, batch: pa.RecordBatch, rows: list[int]) -> Embedded:
        """Embed `rows` of `batch` for one modality (a failed image is reported, not raised)."""
        if not rows:
            return Embedded([], np.zeros((0, 0), np.float32))
        if source.kind == "feature":
            vectors, _ = feature_matrix(batch.take(pa.array(rows)), source.column, source.dim)
            return Embedded(rows, vectors)
        if source.kind in ("text", "clip_text"):
            texts = render_texts(batch.take(pa.array(rows)), self.cfg.text_template)
            model = self._text_model() if source.kind == "text" else self._clip_model()
            vectors = model.embed(texts) if source.kind == "text" else model.embed_text(texts)
            return Embedded(rows, vectors)
        inputs = image_inputs(batch.take(pa.array(rows)))
        out = self._clip_model().embed(inputs, root=self.image_root)
        ok_rows = [r for r, ok in zip(rows, out.ok, strict=True) if ok]
        errors = [(rows[i], reason) for i, reason in out.errors]
        return Embedded(ok_rows, out.vectors[out.ok], errors)
