import io
import os

import pytest
from PIL import Image

from motorec.pipeline.imagesource import (
    ImageLimits,
    ImageLoadError,
    decode_image,
    default_image_root,
    fetch_url,
    is_url,
    load_bytes,
    load_image,
    resolve_image_path,
)


def test_resolve_inside_root(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(b"x")
    assert resolve_image_path("img/a.png", tmp_path) == (tmp_path / "img" / "a.png").resolve()
    assert resolve_image_path("img/../img/a.png", tmp_path) == (tmp_path / "img" / "a.png").resolve()
    assert resolve_image_path(str(tmp_path / "img" / "a.png"), tmp_path) == (tmp_path / "img" / "a.png").resolve()


@pytest.mark.parametrize("source", ["../outside.png", "img/../../outside.png", "/etc/passwd"])
def test_paths_escaping_the_root_are_refused(tmp_path, source):
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ImageLoadError, match="escapes the image root"):
        resolve_image_path(source, root)


def test_symlink_escaping_the_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", root / "link.png")
    os.symlink(tmp_path, root / "up")
    for source in ("link.png", "up/secret.png"):
        with pytest.raises(ImageLoadError, match=f"image path '{source}' escapes the image root"):
            resolve_image_path(source, root)


def test_other_schemes_and_missing_root_are_refused(tmp_path):
    with pytest.raises(ImageLoadError, match="unsupported URL scheme"):
        resolve_image_path("file:///etc/passwd", tmp_path)
    with pytest.raises(ImageLoadError, match="needs an image root"):
        resolve_image_path("a.png", None)
    with pytest.raises(ImageLoadError, match="bad image path"):
        resolve_image_path("a\0.png", tmp_path)


def test_is_url_and_default_root(tmp_path):
    assert is_url("HTTPS://x/y.png") and is_url("http://x") and not is_url("httpx.png")
    assert default_image_root(tmp_path / "cat.parquet", None) == tmp_path.resolve()
    assert default_image_root(tmp_path / "cat.parquet", "/data/images") == type(tmp_path)("/data/images")


def test_local_file_limits(tmp_path, image_bytes):
    data = image_bytes()
    (tmp_path / "a.png").write_bytes(data)
    assert load_bytes("a.png", tmp_path, ImageLimits()) == data
    with pytest.raises(ImageLoadError, match=f"is {len(data)} bytes, over max_image_bytes=10"):
        load_bytes("a.png", tmp_path, ImageLimits(max_bytes=10))
    with pytest.raises(ImageLoadError, match="image file not found"):
        load_bytes("b.png", tmp_path, ImageLimits())
    with pytest.raises(ImageLoadError, match="is not a file"):
        load_bytes(".", tmp_path, ImageLimits())
    with pytest.raises(ImageLoadError, match="image_bytes is .* over max_image_bytes=10"):
        load_bytes(data, tmp_path, ImageLimits(max_bytes=10))
    with pytest.raises(ImageLoadError, match="no image given"):
        load_bytes(None, tmp_path, ImageLimits())


def test_decode_converts_to_rgb_and_applies_exif_orientation(image_bytes):
    assert decode_image(image_bytes((128,), mode="L"), 10_000).mode == "RGB"
    assert decode_image(image_bytes((1, 2, 3, 4), mode="RGBA"), 10_000).getpixel((0, 0)) == (1, 2, 3)
    assert decode_image(image_bytes(3, mode="P", fmt="GIF"), 10_000).mode == "RGB"
    img = Image.new("RGB", (30, 10))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    assert decode_image(buf.getvalue(), 10_000).size == (10, 30)


def test_decompression_bomb_limit_is_per_call(image_bytes):
    data = image_bytes(size=(200, 100))
    assert decode_image(data, 20_000).size == (200, 100)
    with pytest.raises(ImageLoadError, match="image is 200x100 = 20000 pixels, over max_image_pixels=19999"):
        decode_image(data, 19_999)
    assert Image.MAX_IMAGE_PIXELS != 19_999  # the global is untouched


def test_corrupt_data_is_a_readable_reason(image_bytes):
    with pytest.raises(ImageLoadError, match="not a readable image"):
        decode_image(b"definitely not an image", 10_000)
    with pytest.raises(ImageLoadError, match="not a readable image"):
        decode_image(image_bytes(size=(64, 64))[:60], 10_000)  # truncated


def test_url_download(http_root, image_bytes):
    base, folder = http_root
    data = image_bytes((0, 0, 255))
    (folder / "u.png").write_bytes(data)
    assert fetch_url(f"{base}/u.png", 5, 1 << 20) == data
    assert load_image(f"{base}/u.png", None, ImageLimits()).getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(ImageLoadError, match=r"HTTP 404"):
        fetch_url(f"{base}/nope.png", 5, 1 << 20)
    with pytest.raises(ImageLoadError, match=f"is {len(data)} bytes, over max_image_bytes=50"):
        fetch_url(f"{base}/u.png", 5, 50)  # refused from Content-Length
    with pytest.raises(ImageLoadError, match="over max_image_bytes=100000"):
        fetch_url(f"{base}/stream/300000", 5, 100_000)  # refused while reading chunks


def test_url_timeout_and_unreachable(http_root, closed_port_url):
    base, _ = http_root
    with pytest.raises(ImageLoadError, match="timed out after 0.3 s"):
        fetch_url(f"{base}/slow", 0.3, 1 << 20)
    with pytest.raises(ImageLoadError, match=f"{closed_port_url} is unreachable"):
        fetch_url(closed_port_url, 2, 1 << 20)
