"""`build_report` on tiny stores: sections, embedded images, no external references, store untouched."""

import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from motorec.config import load_config
from motorec.errors import InputError
from motorec.pipeline.job import tokenize
from motorec.report import SECTIONS, build_report
from motorec.report.projection import pca_2d
from motorec.sql.surface import ensure_schema

CHROMIUM = Path("/usr/bin/chromium")
N_ITEMS, DIM = 60, 8
EVALUATIONS = [  # run_id, model, setting, metric, k, value
    (9, "motorec", "warm", "recall", 20, 0.21), (9, "motorec", "long_tail", "recall", 20, 0.12),
    (9, "motorec", "cold", "recall", 20, 0.08), (9, "motorec", "all", "recall", 20, 0.17),
    (9, "popularity", "warm", "recall", 20, 0.15), (9, "popularity", "long_tail", "recall", 20, 0.03),
    (9, "popularity", "cold", "recall", 20, 0.0), (9, "motorec", "warm", "ndcg", 20, 0.11),
    (8, "motorec", "warm", "recall", 20, 0.01),  # an older run: the report shows run 9's value
]


def _config(seed: int):
    return load_config(
        None,
        tokenizer={"method": "rqkmeans", "levels": 2, "codebook_size": 8, "kmeans_iters": 5, "seed": seed},
        pipeline={"modalities": ("text",), "text_template": "{title}"},
    )


def _catalog(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_ITEMS, DIM)).astype("float32")
    table = pa.table({
        "item_id": [f"i{i}" for i in range(N_ITEMS)],
        "title": [f"Item {i}" for i in range(N_ITEMS)],
        "feat_text": pa.array([list(map(float, r)) for r in x], type=pa.list_(pa.float32())),
    })
    pq.write_table(table, path)
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """`plain`: one tokenizer version, nothing else; `rich`: two versions, interactions and evaluations."""
    root = tmp_path_factory.mktemp("report")
    catalog = _catalog(root / "catalog.parquet")
    plain, rich = root / "plain", root / "rich"
    with warnings.catch_warnings():  # e.g. "K=8 is not well below 60 items": expected for a tiny store
        warnings.simplefilter("ignore", UserWarning)
        tokenize(catalog, plain, _config(0), progress=False)
        shutil.copytree(plain, rich)
        tokenize(catalog, rich, _config(1), retrain=True, progress=False)
    con = duckdb.connect(str(rich / "motorec.duckdb"))
    # i0..i19 warm (12 interactions each), i20..i39 long-tail (2 each), i40..i59 cold
    inter = [(f"u{u}", f"i{i}") for i in range(20) for u in range(12)]
    inter += [(f"u{u}", f"i{i}") for i in range(20, 40) for u in range(2)]
    con.executemany("INSERT INTO t_interactions VALUES (?, ?, NULL, 1.0)", inter)
    con.executemany("INSERT INTO t_evaluations VALUES (?, ?, ?, ?, ?, ?)", EVALUATIONS)
    con.close()
    return {"plain": plain, "rich": rich}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _sections(text: str) -> list[str]:
    return re.findall(r"<h2>([^<]*)</h2>", text)


def _section_text(text: str, anchor: str) -> str:
    m = re.search(rf'<section id="{anchor}">(.*?)</section>', text, flags=re.S)
    assert m, anchor
    return m.group(1)


def test_report_has_sections_and_embedded_images(stores, tmp_path):
    out = build_report(stores["rich"], tmp_path / "nested" / "report.html")
    assert out == tmp_path / "nested" / "report.html"
    text = out.read_text(encoding="utf-8")
    assert _sections(text) == [title.replace("'", "&#x27;") for _, title in SECTIONS]
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    images = re.findall(r'<img src="([^"]*)"', text)
    # usage bars + usage histogram, health, churn, 2 quality charts (recall@20, ndcg@20), projection
    assert len(images) == 7
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert not re.search(r"https?:", text, flags=re.I)
    assert not re.search(r"(src|href)=\"(?!data:|#)", text)  # nothing but data URIs and in-page anchors
    quality = _section_text(text, "quality")
    assert "No evaluation has been run yet" not in quality
    assert "popularity" in quality and "recall@20" in quality and "0.21" in quality  # latest run wins
    assert "0.01" not in quality
    churn = _section_text(text, "churn")
    assert "share changed" in churn and "<img" in churn
    usage = _section_text(text, "code-usage")
    assert "dead codes" in usage
    assert "every item counts as cold" not in _section_text(text, "projection")
    assert os.stat(out).st_mode & 0o044  # readable like any file the user writes, not 0600


def test_report_without_evaluations_or_churn_says_so(stores, tmp_path):
    text = build_report(stores["plain"], tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(_sections(text)) == len(SECTIONS)
    assert "No evaluation has been run yet" in _section_text(text, "quality")
    assert "no churn to show" in _section_text(text, "churn")
    assert "every item counts as cold" in _section_text(text, "projection")
    assert "data:image/png;base64," in _section_text(text, "projection")


@pytest.mark.parametrize("which", ["plain", "rich"])
def test_report_leaves_the_store_byte_identical(stores, tmp_path, which):
    before = _snapshot(stores[which])
    build_report(stores[which], tmp_path / "r.html")
    assert _snapshot(stores[which]) == before


def test_report_overwrites_atomically(stores, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    build_report(stores["plain"], out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left behind


def test_missing_or_empty_store_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        build_report(tmp_path / "nope", tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no motorec.duckdb"):
        build_report(tmp_path / "empty", tmp_path / "r.html")
    (tmp_path / "fresh").mkdir()
    con = duckdb.connect(str(tmp_path / "fresh" / "motorec.duckdb"))
    ensure_schema(con)
    con.close()
    with pytest.raises(InputError, match="empty"):
        build_report(tmp_path / "fresh", tmp_path / "r.html")
    (tmp_path / "other").mkdir()
    duckdb.connect(str(tmp_path / "other" / "motorec.duckdb")).close()
    with pytest.raises(InputError, match="schema"):
        build_report(tmp_path / "other", tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_pca_2d_finds_the_main_axis():
    rng = np.random.default_rng(0)
    x = np.outer(rng.normal(size=200), [3.0, 0.0, 0.0]) + 0.01 * rng.normal(size=(200, 3))
    pts, explained = pca_2d(x)
    assert pts.shape == (200, 2)
    assert explained[0] > 0.99 and 0 <= explained[1] < 0.01
    assert np.allclose(np.abs(np.corrcoef(pts[:, 0], x[:, 0])[0, 1]), 1.0, atol=1e-3)
    assert pca_2d(np.ones((5, 3)))[0].shape == (5, 2)  # degenerate input: all points at the origin


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)")
def test_report_renders_in_headless_chromium(stores, tmp_path):
    import matplotlib.image as mpimg

    html_path = build_report(stores["rich"], tmp_path / "report.html")
    png = tmp_path / "report.png"
    with tempfile.TemporaryDirectory(prefix="motorec-chromium-") as profile:
        subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1280,3000",
             html_path.as_uri()],
            capture_output=True, timeout=120, check=False,
        )
    assert png.exists() and png.stat().st_size > 20_000
    img = mpimg.imread(png)[..., :3]
    assert img.shape[:2] == (3000, 1280)
    non_white = (img.min(axis=2) < 0.97).mean()
    assert 0.03 < non_white < 0.9  # text and plots drawn, not a blank or an all-dark page
    colours = np.unique((img[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # coloured figures rendered, not only black text
