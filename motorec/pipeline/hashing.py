"""Content hashes: what decides whether an item's modality must be embedded again.

The embedding cache is keyed by (content hash, encoder id). A content hash is a SHA-256 hex digest over
exactly the inputs one modality reads, so it changes when, and only when, those inputs change:

* text and clip_text: the rendered template text (UTF-8);
* image, from `image_bytes`: the SHA-256 of the bytes;
* image, from a local path: the SHA-256 of the file's bytes, so an edited file re-embeds and a moved or
  copied one does not (a missing or unresolvable path hashes its path string with that state, so the
  item is retried once the file appears);
* image, from a URL: the URL string (the content behind it is not fetched to hash it);
* feat_<modality>: the vector as little-endian float32 bytes.

Every digest is domain-separated by a version tag and the kind of input, so equal bytes under different
kinds never collide. A modality the item lacks has no hash (None).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from motorec.pipeline.imagesource import ImageInput, ImageLoadError, is_url, resolve_image_path

HASH_VERSION = b"motorec-content-v1"


def _digest(kind: str, payload: bytes) -> str:
    h = hashlib.sha256(HASH_VERSION)
    h.update(b"\0" + kind.encode() + b"\0")
    h.update(payload)
    return h.hexdigest()


@lru_cache(maxsize=65536)
def _file_sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file's bytes, memoised per process on (path, size, mtime)."""
    st = os.stat(path)
    return _file_sha256_cached(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def text_hash(text: str | None) -> str | None:
    """Content hash of a rendered text (None or "" means the item has no text)."""
    return _digest("text", text.encode("utf-8")) if text else None


def image_hash(source: ImageInput, root: Path | None) -> str | None:
    """Content hash of one catalog image input (see the module docstring for each kind of source)."""
    if source is None:
        return None
    if isinstance(source, bytes | bytearray | memoryview):
        return _digest("image-content", hashlib.sha256(source).digest())
    if is_url(source):
        return _digest("image-url", source.encode("utf-8"))
    try:
        path = resolve_image_path(source, root)
        if path.is_file():
            return _digest("image-content", bytes.fromhex(file_sha256(path)))
        state = "missing"
    except ImageLoadError:
        state = "unresolvable"
    except OSError:
        state = "unreadable"
    return _digest(f"image-{state}", source.encode("utf-8", "surrogatepass"))


def feature_hash(vector: np.ndarray | None) -> str | None:
    """Content hash of a precomputed feature vector, over its little-endian float32 bytes."""
    if vector is None:
        return None
    return _digest("feature", np.ascontiguousarray(vector, dtype="<f4").tobytes())


def item_hash(hashes: Mapping[str, str | None]) -> str:
    """One hash per item over all its modality hashes (the `content_hash` column of the items view).

    Args:
        hashes: modality name -> content hash (None when the item lacks that modality).
    """
    payload = "\n".join(f"{m}={hashes[m] or ''}" for m in sorted(hashes))
    return _digest("item", payload.encode("utf-8"))
