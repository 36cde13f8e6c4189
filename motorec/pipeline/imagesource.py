"""Getting one image's bytes and pixels safely: local paths confined to a root, capped URL reads, bomb checks.

Every failure here is a per-item problem, raised as `ImageLoadError` with a readable reason; the embedder
records it against the item and goes on with the batch.
"""

from __future__ import annotations

import io
import os
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

ImageInput = str | bytes | None
"""An image as the catalog gives it: a path or http(s) URL string, raw encoded bytes, or None (no image)."""

_CHUNK = 1 << 16


class ImageLoadError(Exception):
    """One item's image could not be had or decoded; `str(exc)` is the reason recorded in the errors table."""


@dataclass(frozen=True)
class ImageLimits:
    """Safety limits applied to every image.

    Attributes:
        timeout_s: Overall time allowed for one URL download (connect and read).
        max_bytes: Largest encoded image accepted, from a file, a URL or the catalog.
        max_pixels: Largest width * height accepted (decompression-bomb guard). PIL's global
            `Image.MAX_IMAGE_PIXELS` still rejects images over twice its own value first.
    """

    timeout_s: float = 10.0
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 89_478_485


def is_url(source: str) -> bool:
    """Tell whether `source` is an http(s) URL (case-insensitive scheme)."""
    return source[:8].lower().startswith(("http://", "https://"))


def resolve_image_path(source: str, root: Path | None) -> Path:
    """Resolve a catalog image path inside `root`, following symlinks and "..".

    A relative path is taken relative to `root`; an absolute path must also lie inside it.

    Raises:
        ImageLoadError: when there is no root, the path is malformed, or it resolves outside `root`.
    """
    if "://" in source:
        raise ImageLoadError(f"unsupported URL scheme in {source!r} (only http and https)")
    if root is None:
        raise ImageLoadError(f"image path {source!r} needs an image root (set image_root)")
    try:
        base = Path(root).resolve()
        target = (base / source).resolve()  # an absolute `source` replaces base here
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops
        raise ImageLoadError(f"bad image path {source!r}: {exc}") from exc
    if not target.is_relative_to(base):
        raise ImageLoadError(f"image path {source!r} escapes the image root {base}")
    return target


def read_file(path: Path, max_bytes: int) -> bytes:
    """Read a local image file, refusing non-files and files over `max_bytes`."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageLoadError(f"{path} is not a file")
        if size > max_bytes:
            raise ImageLoadError(f"{path} is {size} bytes, over max_image_bytes={max_bytes}")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise ImageLoadError(f"image file not found: {path}") from exc
    except OSError as exc:
        raise ImageLoadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # grew since stat
        raise ImageLoadError(f"{path} is over max_image_bytes={max_bytes}")
    return data


def fetch_url(url: str, timeout_s: float, max_bytes: int) -> bytes:
    """Download `url` in chunks, with an overall deadline and a size cap.

    Raises:
        ImageLoadError: on an HTTP error, an unreachable host, a timeout or a body over `max_bytes`.
    """
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": "motorec"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise ImageLoadError(f"{url} is {length} bytes, over max_image_bytes={max_bytes}")
            buf = bytearray()
            while chunk := resp.read(_CHUNK):
                buf += chunk
                if len(buf) > max_bytes:
                    raise ImageLoadError(f"{url} is over max_image_bytes={max_bytes}")
                if time.monotonic() > deadline:
                    raise ImageLoadError(f"{url} timed out after {timeout_s:g} s")
            return bytes(buf)
    except urllib.error.HTTPError as exc:
        raise ImageLoadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise ImageLoadError(f"{url} is unreachable: {exc.reason}") from exc
    except TimeoutError as exc:
        raise ImageLoadError(f"{url} timed out after {timeout_s:g} s") from exc
    except (OSError, ValueError) as exc:  # connection reset, malformed URL
        raise ImageLoadError(f"{url}: {exc}") from exc


def load_bytes(source: ImageInput, root: Path | None, limits: ImageLimits) -> bytes:
    """Get the encoded bytes of one catalog image (bytes as given, a URL downloaded, a path read)."""
    if source is None:
        raise ImageLoadError("no image given")
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > limits.max_bytes:
            raise ImageLoadError(f"image_bytes is {len(data)} bytes, over max_image_bytes={limits.max_bytes}")
        return data
    if is_url(source):
        return fetch_url(source, limits.timeout_s, limits.max_bytes)
    return read_file(resolve_image_path(source, root), limits.max_bytes)


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode encoded bytes into an RGB image, checking the pixel count before decoding the pixels.

    EXIF orientation is applied; animated formats give their first frame.

    Raises:
        ImageLoadError: on unreadable data or more than `max_pixels` pixels.
    """
    with warnings.catch_warnings():
        # our own limit below is the one that counts; PIL's global one only errors at twice its value
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    f"image is {width}x{height} = {width * height} pixels, over max_image_pixels={max_pixels}"
                )
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB")
        except ImageLoadError:
            raise
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(f"decompression bomb refused: {exc}") from exc
        except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError) for bad files
            raise ImageLoadError(f"not a readable image: {type(exc).__name__}: {exc}") from exc


def load_image(source: ImageInput, root: Path | None, limits: ImageLimits) -> Image.Image:
    """Fetch and decode one catalog image under `limits`; raises `ImageLoadError` with the reason."""
    return decode_image(load_bytes(source, root, limits), limits.max_pixels)


def default_image_root(catalog_path: str | os.PathLike, image_root: str | None) -> Path:
    """Return the folder relative image paths resolve in: `image_root` if set, else the catalog's folder."""
    return Path(image_root) if image_root is not None else Path(catalog_path).resolve().parent
