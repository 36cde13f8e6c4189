"""What each modality reads from a catalog batch: rendered texts, image inputs, feature vectors, hashes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from motorec.pipeline import hashing
from motorec.pipeline.catalog import ModalitySource
from motorec.pipeline.config import template_fields
from motorec.pipeline.imagesource import ImageInput
from motorec.pipeline.schemas import IMAGE, IMAGE_BYTES


def render_texts(batch: pa.RecordBatch, template: str) -> list[str | None]:
    """Fill `template` with each row's columns; nulls and absent columns render as "", the result is stripped.

    Returns:
        One text per row; None where the rendered text is empty (the item has no text modality).
    """
    fields = template_fields(template)
    values = {f: batch.column(f).to_pylist() if f in batch.schema.names else None for f in fields}
    out: list[str | None] = []
    for i in range(batch.num_rows):
        row = {f: "" if v is None or v[i] is None else str(v[i]) for f, v in values.items()}
        text = template.format(**row).strip()
        out.append(text or None)
    return out


def image_inputs(batch: pa.RecordBatch) -> list[ImageInput]:
    """Each row's image input: image_bytes when non-null, else the image path/URL; blank strings are None."""
    n = batch.num_rows
    data = batch.column(IMAGE_BYTES).to_pylist() if IMAGE_BYTES in batch.schema.names else [None] * n
    refs = batch.column(IMAGE).to_pylist() if IMAGE in batch.schema.names else [None] * n
    return [b if b is not None else (r if r and r.strip() else None) for b, r in zip(data, refs, strict=True)]


def feature_matrix(batch: pa.RecordBatch, column: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Convert a feat_ column to a dense float32 matrix and a presence mask (null rows: zero, masked out).

    Shapes:
        returns vectors (B, dim) float32 and mask (B,) bool.
    """
    arr = batch.column(column)
    mask = ~arr.is_null().to_numpy(zero_copy_only=False)  # (B,)
    out = np.zeros((batch.num_rows, dim), dtype=np.float32)
    if mask.any():
        flat = pc.list_flatten(arr).to_numpy(zero_copy_only=False)
        out[mask] = flat.astype(np.float32).reshape(-1, dim)
    return out, mask


def content_hashes(
    batch: pa.RecordBatch, plan: Sequence[ModalitySource], template: str, image_root: Path | None
) -> dict[str, list[str | None]]:
    """Per-modality content hashes of every row (None where the item lacks the modality); see `hashing`."""
    out: dict[str, list[str | None]] = {}
    texts = render_texts(batch, template) if any(p.kind in ("text", "clip_text") for p in plan) else []
    for p in plan:
        if p.kind in ("text", "clip_text"):
            out[p.modality] = [hashing.text_hash(t) for t in texts]
        elif p.kind == "image":
            out[p.modality] = [hashing.image_hash(s, image_root) for s in image_inputs(batch)]
        else:
            vectors, mask = feature_matrix(batch, p.column, p.dim)  # type: ignore[arg-type]
            hashes = [hashing.feature_hash(v) if ok else None for v, ok in zip(vectors, mask, strict=True)]
            out[p.modality] = hashes
    return out
