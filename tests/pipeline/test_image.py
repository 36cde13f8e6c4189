import logging
import os

import numpy as np
import pytest
import torch

from motorec.errors import ConfigError
from motorec.pipeline.config import PipelineConfig
from motorec.pipeline.image import ImageEmbedder
from motorec.pipeline.imagesource import ImageLimits

COLORS = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (200, 200, 20)]


@pytest.fixture(scope="module")
def embedder(tiny_clip):
    return ImageEmbedder(tiny_clip, "none", batch_size=3, workers=0, limits=ImageLimits(2.0, 4096, 40_000))


@pytest.fixture
def images(tmp_path, image_bytes):
    root = tmp_path / "root"
    root.mkdir()
    for i, c in enumerate(COLORS):
        (root / f"{i}.png").write_bytes(image_bytes(c, size=(40, 24)))
    return root


def test_shapes_norms_and_determinism(embedder, images, tiny_clip):
    out = embedder.embed([f"{i}.png" for i in range(4)], images)
    assert out.vectors.shape == (4, 32) and out.vectors.dtype == np.float32
    assert out.ok.all() and out.errors == []
    np.testing.assert_allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(out.vectors[0], out.vectors[1])  # different images, different vectors
    np.testing.assert_array_equal(out.vectors, embedder.embed([f"{i}.png" for i in range(4)], images).vectors)
    # a second process-independent build (seeded init) gives the same weights, id and vectors
    twin = ImageEmbedder(tiny_clip, "none", batch_size=4, workers=0)
    assert twin.encoder_id == embedder.encoder_id and twin.encoder_id.startswith(f"open_clip:{tiny_clip}:none:")
    np.testing.assert_allclose(twin.embed([f"{i}.png" for i in range(4)], images).vectors, out.vectors, atol=1e-6)


def test_worker_processes_give_the_same_result(embedder, images, tiny_clip):
    sources = [f"{i % 4}.png" for i in range(7)] + ["missing.png"]
    parallel = ImageEmbedder(tiny_clip, "none", batch_size=3, workers=2)
    a, b = embedder.embed(sources, images), parallel.embed(sources, images)
    np.testing.assert_allclose(a.vectors, b.vectors, atol=1e-6)
    assert a.errors == b.errors == [(7, f"image file not found: {images.resolve() / 'missing.png'}")]


def test_per_item_failures_do_not_abort_the_batch(embedder, images, tmp_path, image_bytes, closed_port_url):
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (images / "big.png").write_bytes(os.urandom(5000))
    (images / "bomb.png").write_bytes(image_bytes(size=(300, 200)))
    (tmp_path / "outside.png").write_bytes(image_bytes())
    os.symlink(tmp_path / "outside.png", images / "link.png")
    sources = [
        "0.png",
        "missing.png",
        "corrupt.png",
        "1.png",
        "big.png",
        "bomb.png",
        "../outside.png",
        "link.png",
        closed_port_url,
        None,
        "2.png",
    ]
    out = embedder.embed(sources, images)
    np.testing.assert_array_equal(np.flatnonzero(out.ok), [0, 3, 10])
    reasons = dict(out.errors)
    assert sorted(reasons) == [1, 2, 4, 5, 6, 7, 8, 9]
    assert reasons[1].startswith("image file not found")
    assert reasons[2].startswith("not a readable image")
    assert reasons[4].endswith("is 5000 bytes, over max_image_bytes=4096")
    assert reasons[5] == "image is 300x200 = 60000 pixels, over max_image_pixels=40000"
    assert reasons[6] == f"image path '../outside.png' escapes the image root {images.resolve()}"
    assert "escapes the image root" in reasons[7]
    assert reasons[8].startswith(f"{closed_port_url} is unreachable")
    assert reasons[9] == "no image given"
    assert not out.vectors[~out.ok].any()
    alone = embedder.embed(["0.png", "1.png", "2.png"], images).vectors
    np.testing.assert_allclose(out.vectors[[0, 3, 10]], alone, atol=1e-6)


def test_bytes_and_url_inputs_match_files(embedder, images, http_root):
    base, folder = http_root
    data = (images / "2.png").read_bytes()
    (folder / "2.png").write_bytes(data)
    out = embedder.embed(["2.png", data, f"{base}/2.png", f"{base}/absent.png"], images)
    np.testing.assert_array_equal(out.ok, [True, True, True, False])
    np.testing.assert_allclose(out.vectors[1], out.vectors[0], atol=1e-6)
    np.testing.assert_allclose(out.vectors[2], out.vectors[0], atol=1e-6)
    assert out.errors == [(3, f"{base}/absent.png: HTTP 404 File not found")]


def test_empty_input(embedder):
    out = embedder.embed([])
    assert out.vectors.shape == (0, 32) and out.ok.shape == (0,) and out.errors == []


def test_clip_text_embeddings(embedder, tiny_clip):
    texts = ["red shoes", "a blue kettle", "red shoes"] * 2 + ["x"]
    out = embedder.embed_text(texts)
    assert out.shape == (7, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[0], out[2])
    assert not np.allclose(out[0], out[1])
    assert embedder.text_encoder_id != embedder.encoder_id
    other = ImageEmbedder(tiny_clip, "none", workers=0, template="{title}")
    assert other.text_encoder_id != embedder.text_encoder_id and other.encoder_id == embedder.encoder_id


def test_local_checkpoint_file(embedder, images, tiny_clip, tmp_path):
    ckpt = tmp_path / "tiny.pt"
    torch.save(embedder._model.state_dict(), ckpt)
    loaded = ImageEmbedder(tiny_clip, str(ckpt), workers=0)
    assert loaded.encoder_id.startswith(f"open_clip:{tiny_clip}:tiny.pt:") and loaded.encoder_id != embedder.encoder_id
    sources = ["0.png", "3.png"]
    np.testing.assert_allclose(
        loaded.embed(sources, images).vectors, embedder.embed(sources, images).vectors, atol=1e-6
    )
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=f"image_model '{tiny_clip}': cannot load weights"):
        ImageEmbedder(tiny_clip, str(tmp_path / "bad.pt"), workers=0)


def test_model_config_json_path(tiny_clip_json, images):
    emb = ImageEmbedder(str(tiny_clip_json), "none", workers=0)
    assert emb.dim == 32 and emb.name == tiny_clip_json.stem
    assert emb.embed(["0.png"], images).ok.all()


def test_random_init_is_announced(tiny_clip, caplog):
    with caplog.at_level(logging.WARNING, logger="motorec.pipeline.image"):
        ImageEmbedder(tiny_clip, "none", workers=0)
    assert "random weights" in caplog.text


def test_missing_pretrained_weights_say_how_to_use_a_local_checkpoint():
    with pytest.raises(ConfigError) as exc:
        ImageEmbedder.from_config(PipelineConfig())
    msg = str(exc.value)
    assert "image_model 'ViT-B-32' / image_pretrained 'laion2b_s34b_b79k' are not on this machine" in msg
    assert "never downloads" in msg and 'image_pretrained = "/path/to/open_clip_pytorch_model.bin"' in msg


def test_unknown_tag_and_model(tiny_clip, tmp_path):
    with pytest.raises(
        ConfigError,
        match="image_pretrained 'lion' is neither a pretrained tag of ViT-B-32 .*laion2b_s34b_b79k",
    ):
        ImageEmbedder("ViT-B-32", "lion")
    with pytest.raises(ConfigError, match="image_model 'ViT-Q-99' is neither an open_clip model"):
        ImageEmbedder("ViT-Q-99", "none")
    with pytest.raises(ConfigError, match="model-config file not found"):
        ImageEmbedder(str(tmp_path / "absent.json"), "none")


def test_pretrained_tags_are_found_in_the_local_caches_only(tmp_path, monkeypatch):
    import huggingface_hub.constants
    import open_clip

    from motorec.pipeline.image import _cached_tag_file

    pcfg = open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert _cached_tag_file(pcfg) is None
    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "open_clip_pytorch_model.bin").write_bytes(b"w")
    assert _cached_tag_file(pcfg).endswith("snapshots/abc123/open_clip_pytorch_model.bin")
    (repo / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"w")
    assert _cached_tag_file(pcfg).endswith("snapshots/abc123/open_clip_model.safetensors")  # preferred
    monkeypatch.setenv("HOME", str(tmp_path))
    url_cfg = {"url": "https://example.invalid/v0.2-weights/vit_b_32-laion2b_e16-af8dbd0c.pth"}
    assert _cached_tag_file(url_cfg) is None
    cached = tmp_path / ".cache" / "clip" / "vit_b_32-laion2b_e16-af8dbd0c.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"w")
    assert _cached_tag_file(url_cfg) == str(cached)
