"""Bad inputs to `tokenize`: each ends in a clear error with the store byte-for-byte unchanged, or in a
recorded per-item error while the run goes on."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from motorec.config import load_config
from motorec.errors import ConfigError, InputError
from motorec.pipeline.job import tokenize
from motorec.pipeline.testing import write_tiny_clip_config

pytestmark = pytest.mark.filterwarnings("ignore:codebook_size K=:UserWarning")

# RQ-KMeans: these tests are about inputs and the store, and it fits in a fraction of a second
TOKENIZER = {"method": "rqkmeans", "codebook_size": 4, "levels": 2, "latent_dim": 8, "hidden_dims": [16],
             "max_steps": 30}
N = 12
DIM = 8
N_IMG = 40  # good images: more than the 32 image dimensions, as RQ-KMeans (faiss PCA) needs


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` (an absent root is an empty snapshot)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def vectors(n: int, seed: int = 0) -> pa.Array:
    return pa.array(np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32).tolist(),
                    pa.list_(pa.float32()))


def good_columns(n: int = N) -> dict:
    return {"item_id": [f"i{i}" for i in range(n)], "title": [f"t{i}" for i in range(n)], "feat_text": vectors(n)}


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Path:
    """A store after one good run (string ids, feat_text only)."""
    folder = tmp_path_factory.mktemp("errors")
    pq.write_table(pa.table(good_columns()), folder / "good.parquet")
    tokenize(folder / "good.parquet", folder / "store", load_config(None, tokenizer=TOKENIZER), progress=False)
    return folder / "store"


def _write(folder: Path, columns, schema=None, name="bad.parquet") -> Path:
    table = columns if isinstance(columns, pa.Table) else pa.table(columns, schema=schema)
    pq.write_table(table, folder / name)
    return folder / name


def _replace(column: str, values) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        cols = good_columns()
        cols[column] = values
        return _write(folder, cols)
    return make


def _bad_vectors(kind: str) -> pa.Array:
    rows = np.random.default_rng(1).normal(size=(N, DIM)).astype(np.float32).tolist()
    if kind == "dim":
        rows[3] = rows[3][:-1]
    else:
        rows[5][2] = float("nan")
    return pa.array(rows, pa.list_(pa.float32()))


def _text_file(folder: Path) -> Path:
    (folder / "bad.parquet").write_text("item_id,title\n1,x\n")
    return folder / "bad.parquet"


def _truncated(folder: Path) -> Path:
    good = _write(folder, good_columns(), name="full.parquet").read_bytes()
    (folder / "bad.parquet").write_bytes(good[: len(good) // 2])
    return folder / "bad.parquet"


def _empty(folder: Path) -> Path:
    return _write(folder, pa.table(good_columns()).slice(0, 0))


def _dir(folder: Path) -> Path:
    (folder / "bad.parquet").mkdir()
    return folder / "bad.parquet"


# (case id, catalog maker, expected error type, fragments the message must contain)
CATALOG_CASES = [
    ("missing-item-id", lambda f: _write(f, {"id": [f"i{i}" for i in range(N)], "feat_text": vectors(N)}),
     InputError, ["bad.parquet", "item_id"]),
    ("duplicate-ids", _replace("item_id", [f"i{i}" for i in range(N - 2)] + ["i1", "i4"]),
     InputError, ["bad.parquet", "item_id", "duplicate", "'i1'", "'i4'"]),
    ("null-ids", _replace("item_id", [f"i{i}" if i != 7 else None for i in range(N)]),
     InputError, ["bad.parquet", "item_id", "null", "7"]),
    ("float-ids", _replace("item_id", [float(i) for i in range(N)]), InputError, ["bad.parquet", "item_id"]),
    ("non-string-titles", _replace("title", list(range(N))), InputError, ["bad.parquet", "title"]),
    ("wrong-dimension-vectors", _replace("feat_text", _bad_vectors("dim")),
     InputError, ["bad.parquet", "feat_text", "dimension", "3"]),
    ("nan-vectors", _replace("feat_text", _bad_vectors("nan")), InputError, ["bad.parquet", "feat_text", "NaN", "5"]),
    ("string-vectors", _replace("feat_text", ["1,2,3"] * N), InputError, ["bad.parquet", "feat_text"]),
    ("integer-image-column", _replace("image", list(range(N))), InputError, ["bad.parquet", "image"]),
    ("string-image-bytes", _replace("image_bytes", ["abc"] * N), InputError, ["bad.parquet", "image_bytes"]),
    ("empty-catalog", _empty, InputError, ["bad.parquet", "empty"]),
    ("not-a-parquet-file", _text_file, InputError, ["bad.parquet", "Parquet"]),
    ("truncated-parquet-file", _truncated, InputError, ["bad.parquet"]),
    ("missing-catalog-file", lambda f: f / "bad.parquet", InputError, ["bad.parquet", "not found"]),
    ("catalog-is-a-directory", _dir, InputError, ["bad.parquet", "directory"]),
    ("id-type-differs-from-store", _replace("item_id", pa.array(range(N), pa.int64())),
     InputError, ["bad.parquet", "item_id", "int64", "string"]),
    ("no-modality", lambda f: _write(f, {"item_id": [f"i{i}" for i in range(N)], "genre": ["x"] * N}),
     InputError, ["bad.parquet", "modality"]),
]


@pytest.mark.parametrize(("maker", "error", "fragments"), [c[1:] for c in CATALOG_CASES],
                         ids=[c[0] for c in CATALOG_CASES])
def test_bad_catalog_leaves_store_unchanged(base_store, tmp_path, maker, error, fragments):
    store = tmp_path / "store"
    shutil.copytree(base_store, store)
    before = snapshot(store)
    catalog = maker(tmp_path)
    with pytest.raises(error) as info:
        tokenize(catalog, store, load_config(None, tokenizer=TOKENIZER), progress=False)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert snapshot(store) == before


def test_bad_catalog_never_creates_a_store(tmp_path):
    catalog = _replace("feat_text", _bad_vectors("nan"))(tmp_path)
    with pytest.raises(InputError):
        tokenize(catalog, tmp_path / "store", load_config(None, tokenizer=TOKENIZER), progress=False)
    assert not (tmp_path / "store").exists()


def test_codebook_larger_than_catalog_leaves_store_unchanged(base_store, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(base_store, store)
    before = snapshot(store)
    catalog = _write(tmp_path, good_columns(3))
    with pytest.raises(InputError, match="codebook_size 4"):
        tokenize(catalog, store, load_config(None, tokenizer=TOKENIZER), retrain=True, progress=False)
    assert snapshot(store) == before


CONFIG_CASES = [
    ("malformed-toml", "[tokenizer\ncodebook_size = 4\n", ["motorec.toml", "TOML"]),
    ("unknown-key", "[tokenizer]\ncodebok_size = 4\n", ["motorec.toml", "codebok_size"]),
    ("unknown-section", "[tokeniser]\ncodebook_size = 4\n", ["motorec.toml", "tokeniser"]),
    ("wrong-type", '[tokenizer]\ncodebook_size = "big"\n', ["motorec.toml", "codebook_size"]),
    ("out-of-range", "[pipeline]\ntext_batch_size = 0\n", ["motorec.toml", "text_batch_size"]),
    ("bad-template", '[pipeline]\ntext_template = "{title.upper}"\n', ["motorec.toml", "text_template"]),
]


@pytest.mark.parametrize(("text", "fragments"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_is_a_config_error(base_store, tmp_path, text, fragments):
    (tmp_path / "motorec.toml").write_text(text)
    before = snapshot(base_store)
    with pytest.raises(ConfigError) as info:
        tokenize(base_store.parent / "good.parquet", base_store, load_config(tmp_path / "motorec.toml"),
                 progress=False)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))
    assert snapshot(base_store) == before


# -- per-item image errors: recorded, the modality masked for that item, the run goes on --------------------

BAD_IMAGES = {  # item id -> fragment of the recorded reason
    "missing": "not found",
    "corrupt": "not a readable image",
    "empty-file": "not a readable image",
    "too-many-bytes": "max_image_bytes",
    "too-many-pixels": "max_image_pixels",
    "escapes-root": "escapes the image root",
    "absolute-outside": "escapes the image root",
    "unreachable-url": "unreachable",
    "bad-bytes": "not a readable image",
    "ftp-url": "unsupported URL scheme",
}


def _png(path: Path, size: int, seed: int) -> None:
    pixels = (np.random.default_rng(seed).random((size, size, 3)) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """One run over 40 good images and one bad image of each kind; feat_text for every item."""
    import socket

    folder = tmp_path_factory.mktemp("images")
    root = folder / "catalog"
    for i in range(N_IMG):
        _png(root / "img" / f"{i}.png", 16, i)
    (root / "img" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    (root / "img" / "empty.png").write_bytes(b"")
    _png(root / "img" / "big.png", 64, 99)  # ~12 KB of noise: over the byte cap
    Image.new("RGB", (80, 80), (1, 2, 3)).save(root / "img" / "wide.png")  # small file, 6400 pixels
    _png(folder / "outside.png", 16, 100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/x.png"
    sources = {
        "missing": "img/nope.png", "corrupt": "img/corrupt.png", "empty-file": "img/empty.png",
        "too-many-bytes": "img/big.png", "too-many-pixels": "img/wide.png", "escapes-root": "../outside.png",
        "absolute-outside": str(folder / "outside.png"), "unreachable-url": closed, "bad-bytes": None,
        "ftp-url": "ftp://example.com/x.png",
    }
    ids = [f"i{i}" for i in range(N_IMG)] + list(sources)
    images = [f"img/{i}.png" for i in range(N_IMG)] + list(sources.values())
    image_bytes = [None] * (len(ids) - 1) + [None]
    image_bytes[ids.index("bad-bytes")] = b"GIF89a broken"
    pq.write_table(pa.table({"item_id": ids, "image": images, "image_bytes": pa.array(image_bytes, pa.binary()),
                             "feat_text": vectors(len(ids))}), root / "catalog.parquet")
    clip = write_tiny_clip_config(folder / "models")
    cfg = load_config(None, tokenizer=TOKENIZER, pipeline={
        "image_model": str(clip), "image_pretrained": "none", "image_workers": 0, "max_image_bytes": 4000,
        "max_image_pixels": 5000, "url_timeout_s": 2.0})
    store = folder / "store"
    summary = tokenize(root / "catalog.parquet", store, cfg, progress=False)
    return root, store, cfg, summary


def _rows(store: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("item", list(BAD_IMAGES))
def test_bad_image_is_recorded_and_masked(image_run, item):
    _, store, _, summary = image_run
    errors = _rows(store, "SELECT run_id, modality, stage, reason FROM errors WHERE item_id = ?", [item])
    assert len(errors) == 1, errors
    run_id, modality, stage, reason = errors[0]
    assert (run_id, modality, stage) == (summary.run_id, "image", "embed")
    assert BAD_IMAGES[item] in reason, reason
    # the image modality is masked for this item; its other modalities still get codes
    assert _rows(store, "SELECT modality FROM current_codes WHERE item_id = ? ORDER BY 1", [item]) == [("text",)]


def test_bad_images_do_not_stop_the_run(image_run):
    _, store, _, s = image_run
    assert s.failed == len(BAD_IMAGES) and s.new == N_IMG + len(BAD_IMAGES)
    assert s.modalities["image"].encoded == N_IMG and s.modalities["text"].encoded == N_IMG + len(BAD_IMAGES)
    assert _rows(store, "SELECT status FROM runs") == [("ok",)]
    assert _rows(store, "SELECT count(*) FROM errors") == [(len(BAD_IMAGES),)]


def test_failed_items_are_not_retried_unless_asked(image_run, tmp_path):
    root, base, cfg, _ = image_run
    store = tmp_path / "store"
    shutil.copytree(base, store)
    s = tokenize(root / "catalog.parquet", store, cfg, progress=False)
    assert (s.new, s.changed, s.failed) == (0, 0, len(BAD_IMAGES))
    assert _rows(store, "SELECT count(*) FROM errors") == [(len(BAD_IMAGES),)]  # nothing new recorded
    s = tokenize(root / "catalog.parquet", store, cfg, retry_failed=True, progress=False)
    assert _rows(store, "SELECT count(*) FROM errors WHERE run_id = ?", [s.run_id]) == [(len(BAD_IMAGES),)]


def test_a_missing_image_that_appears_is_embedded_next_run(image_run, tmp_path):
    root, base, cfg, _ = image_run
    store = tmp_path / "store"
    shutil.copytree(base, store)
    catalog = tmp_path / "catalog"
    shutil.copytree(root, catalog)
    _png(catalog / "img" / "nope.png", 16, 7)
    s = tokenize(catalog / "catalog.parquet", store, cfg, progress=False)
    assert (s.new, s.changed) == (0, 1) and s.modalities["image"].encoded == 1
    assert _rows(store, "SELECT modality FROM current_codes WHERE item_id = 'missing' ORDER BY 1") == [
        ("image",), ("text",)]


def test_a_modality_with_no_usable_input_is_skipped_not_fatal(tmp_path):
    """Every image fails: the errors are recorded, the text modality is tokenized, the image one skipped."""
    pq.write_table(pa.table({**good_columns(), "image": ["img/nope.png"] * N}), tmp_path / "c.parquet")
    cfg = load_config(None, tokenizer=TOKENIZER, pipeline={
        "image_model": str(write_tiny_clip_config(tmp_path / "models")), "image_pretrained": "none",
        "image_workers": 0})
    s = tokenize(tmp_path / "c.parquet", tmp_path / "store", cfg, progress=False)
    assert set(s.modalities) == {"text"} and "codebook_size" in s.skipped["image"]
    assert s.failed == N
    store = tmp_path / "store"
    assert _rows(store, "SELECT count(*) FROM errors WHERE modality = 'image'") == [(N,)]
    assert _rows(store, "SELECT DISTINCT modality FROM current_codes") == [("text",)]
    assert _rows(store, "SELECT status FROM runs") == [("ok",)]


def test_corrupt_store_database_is_a_store_error(base_store, tmp_path):
    from motorec.errors import StoreError
    from motorec.pipeline.lock import StoreLock

    store = tmp_path / "store"
    shutil.copytree(base_store, store)
    (store / "motorec.duckdb").write_bytes(b"this is not a duckdb file" * 100)
    before = snapshot(store)
    with pytest.raises(StoreError, match="cannot open the store database"):
        tokenize(base_store.parent / "good.parquet", store, load_config(None, tokenizer=TOKENIZER), progress=False)
    assert snapshot(store) == before
    StoreLock(store / "lock").acquire().release()  # released on the error path
