import os

import numpy as np
import pyarrow as pa
import pytest

from motorec.pipeline import hashing
from motorec.pipeline.catalog import ModalitySource
from motorec.pipeline.inputs import content_hashes, feature_matrix, image_inputs, render_texts

TEMPLATE = "{title}\n{description}"


def test_render_texts_fills_nulls_and_absent_columns_with_empty_and_strips():
    batch = pa.record_batch(
        {"title": ["Heat", None, None, "  "], "year": [1995, None, 2000, None]},
    )
    assert render_texts(batch, TEMPLATE) == ["Heat", None, None, None]
    assert render_texts(batch, "{title} ({year})") == ["Heat (1995)", "()", "(2000)", "()"]


def test_image_inputs_prefer_bytes_and_treat_blank_paths_as_missing():
    batch = pa.record_batch(
        {
            "image": ["a.png", "b.png", "  ", None],
            "image_bytes": pa.array([None, b"B", None, None], pa.binary()),
        }
    )
    assert image_inputs(batch) == ["a.png", b"B", None, None]
    assert image_inputs(pa.record_batch({"item_id": [1, 2]})) == [None, None]


def test_feature_matrix_zero_fills_and_masks_nulls():
    arr = pa.array([[1.0, 2.0], None, [3.0, 4.0]], pa.list_(pa.float64()))
    vectors, mask = feature_matrix(pa.record_batch({"feat_x": arr}), "feat_x", 2)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 2)
    np.testing.assert_array_equal(vectors, [[1, 2], [0, 0], [3, 4]])
    np.testing.assert_array_equal(mask, [True, False, True])


def _hashes(tmp_path, batch):
    plan = [
        ModalitySource("text", "text"),
        ModalitySource("image", "image"),
        ModalitySource("x", "feature", "feat_x", 2),
    ]
    return content_hashes(batch, plan, TEMPLATE, tmp_path)


def test_content_hashes_are_deterministic_and_change_with_their_inputs_only(tmp_path, image_bytes):
    (tmp_path / "a.png").write_bytes(image_bytes((1, 2, 3)))
    batch = pa.record_batch(
        {
            "title": ["A", "B"],
            "image": ["a.png", "missing.png"],
            "feat_x": pa.array([[1.0, 2.0], None], pa.list_(pa.float32())),
        }
    )
    first = _hashes(tmp_path, batch)
    assert first == _hashes(tmp_path, batch)
    assert first["x"][1] is None and all(len(h) == 64 for h in first["text"])
    # edit one title: only that text hash moves
    edited = batch.set_column(0, "title", pa.array(["A", "B2"]))
    second = _hashes(tmp_path, edited)
    assert second["text"][0] == first["text"][0] and second["text"][1] != first["text"][1]
    assert second["image"] == first["image"] and second["x"] == first["x"]
    # rewrite the image file: only that image hash moves
    (tmp_path / "a.png").write_bytes(image_bytes((9, 9, 9)))
    os.utime(tmp_path / "a.png", ns=(1, 1))
    third = _hashes(tmp_path, batch)
    assert third["image"][0] != first["image"][0] and third["text"] == first["text"]
    # a missing file that appears gets a new hash, so it is retried
    (tmp_path / "missing.png").write_bytes(image_bytes())
    assert _hashes(tmp_path, batch)["image"][1] != first["image"][1]


def test_image_hash_follows_content_not_location(tmp_path, image_bytes):
    data = image_bytes((5, 6, 7))
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "copy.png").write_bytes(data)
    h = hashing.image_hash("a.png", tmp_path)
    assert h == hashing.image_hash("sub/copy.png", tmp_path) == hashing.image_hash(data, tmp_path)
    assert hashing.image_hash("http://127.0.0.1/a.png", tmp_path) != h
    assert hashing.image_hash("../a.png", tmp_path / "sub") != hashing.image_hash("a.png", tmp_path / "sub")
    assert hashing.image_hash(None, tmp_path) is None


def test_feature_and_text_hashes():
    v = np.array([0.1, 0.2], dtype=np.float64)
    assert hashing.feature_hash(v) == hashing.feature_hash(v.astype(np.float32))
    assert hashing.feature_hash(v) != hashing.feature_hash(v[::-1])
    assert hashing.text_hash("") is None and hashing.text_hash(None) is None
    # kinds are domain-separated: the same bytes as text and as an image url differ
    assert hashing.text_hash("http://x") != hashing.image_hash("http://x", None)


def test_item_hash_depends_on_every_modality_and_not_on_order():
    a = hashing.item_hash({"text": "t1", "image": None})
    assert a == hashing.item_hash({"image": None, "text": "t1"})
    assert a != hashing.item_hash({"text": "t1", "image": "i1"})


@pytest.mark.parametrize("size", [0, 5, 3 << 20])
def test_file_sha256_matches_hashlib(tmp_path, size):
    import hashlib

    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert hashing.file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
