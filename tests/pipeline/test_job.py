"""End to end: `tokenize` on a tiny catalog (text through MiniLM, generated PNGs through a tiny random-init
open_clip), then reruns: no-op, added items, a changed title, `retrain=True`; and the SQL surface."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from motorec.config import load_config
from motorec.pipeline.job import tokenize
from motorec.pipeline.testing import write_tiny_clip_config

pytestmark = pytest.mark.filterwarnings("ignore:codebook_size K=:UserWarning")

N_BASE = 12
TOKENIZER = {"codebook_size": 4, "levels": 2, "latent_dim": 8, "hidden_dims": [16], "max_steps": 20}
CODE_COLS = "item_id, modality, version, codes, suffix, sid, run_id"


def make_catalog(folder: Path, n: int, titles: dict[int, str] | None = None, name: str = "catalog.parquet") -> Path:
    """Items i0..i<n-1>, each with a title, a description and its own generated PNG (written once)."""
    titles = titles or {}
    paths = []
    for i in range(n):
        p = folder / "img" / f"{i}.png"
        if not p.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
            pixels = (np.random.default_rng(i).random((20, 20, 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(p)
        paths.append(f"img/{i}.png")
    table = pa.table({
        "item_id": [f"i{i}" for i in range(n)],
        "title": [titles.get(i, f"movie {i} about topic {i % 3}") for i in range(n)],
        "description": [f"a story number {i}" for i in range(n)],
        "image": paths,
        "genre": ["drama"] * n,  # passes through untouched
    })
    pq.write_table(table, folder / name)
    return folder / name


def make_config(clip_json: Path, **tokenizer):
    return load_config(None, tokenizer={**TOKENIZER, **tokenizer},
                       pipeline={"image_model": str(clip_json), "image_pretrained": "none", "image_workers": 0})


def query(store: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(folder, config, store, summary) of a first run on 12 items; tests copy the store before changing it."""
    folder = tmp_path_factory.mktemp("job")
    cfg = make_config(write_tiny_clip_config(folder / "models"))
    catalog = make_catalog(folder, N_BASE)
    store = folder / "store"
    summary = tokenize(catalog, store, cfg, progress=False)
    return folder, cfg, store, summary


@pytest.fixture
def work(base, tmp_path):
    """A private copy of the base store, and the catalog folder (shared, read-only: images live there)."""
    folder, cfg, store, _ = base
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    return folder, cfg, copy


def test_first_run_codes_every_item_and_modality(base):
    folder, _, store, s = base
    assert (s.seen, s.new, s.changed, s.unchanged, s.failed) == (N_BASE, N_BASE, 0, 0, 0)
    assert set(s.modalities) == {"text", "image"}
    for r in s.modalities.values():
        assert r.created and r.previous is None and r.encoded == N_BASE
    rows = query(store, "SELECT modality, count(*), count(DISTINCT item_id), min(len(codes)), max(len(codes)) "
                        "FROM current_codes GROUP BY modality ORDER BY modality")
    assert rows == [("image", N_BASE, N_BASE, 2, 2), ("text", N_BASE, N_BASE, 2, 2)]
    # c1..cL, codes in range, sid readable and unique per modality
    for m, letter in (("text", "t"), ("image", "i")):
        got = query(store, "SELECT item_id, codes, c1, c2, suffix, sid FROM current_codes WHERE modality = ?", [m])
        for _, codes, c1, c2, suffix, sid in got:
            assert [c1, c2] == codes and all(0 <= c < 4 for c in codes)
            expected = f"<{letter}1_{c1}><{letter}2_{c2}>" + (f"<{letter}#{suffix}>" if suffix else "")
            assert sid == expected
        assert len({g[5] for g in got}) == N_BASE


def test_views_answer(base):
    _, _, store, s = base
    items = query(store, "SELECT item_id, title, content_hash, first_seen_run, last_changed_run FROM items "
                         "ORDER BY item_id")
    assert len(items) == N_BASE and all(r[3] == s.run_id and r[4] == s.run_id and len(r[2]) == 64 for r in items)
    assert dict((r[0], r[1]) for r in items)["i3"] == "movie 3 about topic 0"
    versions = query(store, "SELECT version, modality, levels, codebook_size, config, stats, is_current "
                            "FROM tokenizer_versions ORDER BY modality")
    assert [(v[1], v[2], v[3], v[6]) for v in versions] == [("image", 2, 4, True), ("text", 2, 4, True)]
    assert json.loads(versions[0][4])["codebook_size"] == 4
    assert "health" in json.loads(versions[0][5])
    assert query(store, "SELECT count(*) FROM item_codes")[0][0] == 2 * N_BASE
    runs = query(store, "SELECT run_id, command, status, counts, finished_at >= started_at FROM runs")
    assert len(runs) == 1 and runs[0][:3] == (s.run_id, "tokenize", "ok") and runs[0][4]
    assert json.loads(runs[0][3])["new"] == N_BASE
    assert query(store, "SELECT count(*) FROM errors") == [(0,)]


def test_current_codes_parquet_matches_view(base):
    _, _, store, _ = base
    exported = pq.read_table(store / "current_codes.parquet")
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        view = con.execute("SELECT item_id, modality, version, codes, suffix, sid FROM current_codes "
                           "ORDER BY modality, item_id").fetchall()
        versions = con.execute("SELECT modality, version FROM tokenizer_versions").fetchall()
    finally:
        con.close()
    assert [tuple(r.values()) for r in exported.to_pylist()] == view
    for m, v in versions:  # one file per version
        assert pq.read_table(store / "codes" / m / f"{v}.parquet").num_rows == N_BASE


def test_rerun_is_a_noop(base, work):
    folder, cfg, store = work
    before = query(store, f"SELECT {CODE_COLS} FROM t_item_codes ORDER BY ALL")
    versions = query(store, "SELECT * FROM t_tokenizer_versions ORDER BY ALL")
    n_emb = query(store, "SELECT count(*) FROM t_embeddings")
    exported = (store / "current_codes.parquet").read_bytes()
    s = tokenize(folder / "catalog.parquet", store, cfg, progress=False)
    assert (s.new, s.changed, s.unchanged, s.failed) == (0, 0, N_BASE, 0)
    assert all(not r.created and r.encoded == 0 for r in s.modalities.values())
    assert query(store, f"SELECT {CODE_COLS} FROM t_item_codes ORDER BY ALL") == before
    assert query(store, "SELECT * FROM t_tokenizer_versions ORDER BY ALL") == versions
    assert query(store, "SELECT count(*) FROM t_embeddings") == n_emb
    assert (store / "current_codes.parquet").read_bytes() == exported
    assert query(store, "SELECT status FROM runs ORDER BY run_id") == [("ok",), ("ok",)]


def test_added_items_encode_only_them(base, work):
    folder, cfg, store = work
    before = query(store, f"SELECT {CODE_COLS} FROM t_item_codes ORDER BY ALL")
    n_emb = query(store, "SELECT count(*) FROM t_embeddings")[0][0]
    catalog = make_catalog(folder, N_BASE + 3, name="more.parquet")
    s = tokenize(catalog, store, cfg, progress=False)
    assert (s.seen, s.new, s.changed, s.unchanged) == (N_BASE + 3, 3, 0, N_BASE)
    assert {m: (r.created, r.encoded) for m, r in s.modalities.items()} == {"text": (False, 3), "image": (False, 3)}
    assert query(store, "SELECT count(*) FROM t_embeddings")[0][0] == n_emb + 2 * 3  # embedded only the new ones
    after = query(store, f"SELECT {CODE_COLS} FROM t_item_codes ORDER BY ALL")
    old = [r for r in after if r[0] in {f"i{i}" for i in range(N_BASE)}]
    assert old == before  # bitwise unchanged, run ids included
    new = [r for r in after if r not in before]
    assert len(new) == 6 and {r[6] for r in new} == {s.run_id}
    assert len(query(store, "SELECT DISTINCT version FROM t_item_codes")) == 2  # one per modality, no new ones
    assert query(store, "SELECT count(*) FROM items WHERE first_seen_run = ?", [s.run_id]) == [(3,)]
    # the sids of one modality stay unique after the suffixes of the new items are numbered
    assert query(store, "SELECT count(*) = count(DISTINCT (modality, sid)) FROM current_codes") == [(True,)]
    assert pq.read_table(store / "current_codes.parquet").num_rows == 2 * (N_BASE + 3)


def test_changed_title_reembeds_only_that_item(base, work):
    folder, cfg, store = work
    before = dict(((r[0], r[1]), r) for r in query(store, f"SELECT {CODE_COLS} FROM t_item_codes"))
    n_emb = query(store, "SELECT count(*) FROM t_embeddings")[0][0]
    catalog = make_catalog(folder, N_BASE, titles={5: "a completely different title"}, name="edited.parquet")
    s = tokenize(catalog, store, cfg, progress=False)
    assert (s.new, s.changed, s.unchanged) == (0, 1, N_BASE - 1)
    assert s.modalities["text"].encoded == 1 and s.modalities["image"].encoded == 0
    assert query(store, "SELECT count(*) FROM t_embeddings")[0][0] == n_emb + 1
    assert query(store, "SELECT item_id, title FROM items WHERE last_changed_run = ?", [s.run_id]) == [
        ("i5", "a completely different title")]
    after = dict(((r[0], r[1]), r) for r in query(store, f"SELECT {CODE_COLS} FROM t_item_codes"))
    changed = {k for k in after if after[k] != before[k]}
    assert changed <= {("i5", "text")}  # its codes may or may not move; nobody else's do
    assert after[("i5", "image")] == before[("i5", "image")]


def test_removed_image_drops_that_items_image_code(base, work):
    folder, cfg, store = work
    before = dict(((r[0], r[1]), r) for r in query(store, f"SELECT {CODE_COLS} FROM t_item_codes"))
    table = pq.read_table(folder / "catalog.parquet")
    images = table.column("image").to_pylist()
    images[2] = None
    pq.write_table(table.set_column(table.schema.get_field_index("image"), "image", pa.array(images)),
                   folder / "no-image.parquet")
    s = tokenize(folder / "no-image.parquet", store, cfg, progress=False)
    assert (s.new, s.changed, s.failed) == (0, 1, 0)
    assert all(r.encoded == 0 for r in s.modalities.values())
    assert query(store, "SELECT modality FROM current_codes WHERE item_id = 'i2'") == [("text",)]
    after = dict(((r[0], r[1]), r) for r in query(store, f"SELECT {CODE_COLS} FROM t_item_codes"))
    assert after == {k: v for k, v in before.items() if k != ("i2", "image")}


def test_retrain_adds_a_version_with_churn(base, work):
    folder, _, store = work
    old = dict(query(store, "SELECT modality, version FROM tokenizer_versions"))
    cfg = make_config(folder / "models" / "motorec-tiny-clip.json", seed=1)
    s = tokenize(folder / "catalog.parquet", store, cfg, retrain=True, progress=False)
    assert (s.new, s.changed) == (0, 0)
    for m, r in s.modalities.items():
        assert r.created and r.previous == old[m] and r.version != old[m] and r.encoded == N_BASE
        assert r.churn["items"] == N_BASE
        assert len(r.churn["changed_per_level"]) == 2 and len(r.churn["prefix_agreement"]) == 2
        assert all(0 <= x <= 1 for x in r.churn["changed_per_level"] + r.churn["prefix_agreement"])
    versions = query(store, "SELECT modality, version, is_current, parent_version FROM tokenizer_versions")
    assert len(versions) == 4
    current = {m: (v, p) for m, v, c, p in versions if c}
    assert current == {m: (s.modalities[m].version, old[m]) for m in old}
    counts = json.loads(query(store, "SELECT counts FROM runs WHERE run_id = ?", [s.run_id])[0][0])
    assert counts["modalities"]["text"]["churn"] == s.modalities["text"].churn
    # the old version's codes stay; current_codes shows the new one only
    assert query(store, "SELECT count(*) FROM item_codes") == [(4 * N_BASE,)]
    assert query(store, "SELECT DISTINCT version FROM current_codes ORDER BY 1") == sorted(
        (r.version,) for r in s.modalities.values())
    for m in old:
        assert (store / "codes" / m / f"{old[m]}.parquet").exists()
        assert (store / "tokenizers" / m / s.modalities[m].version).is_dir()
    exported = pq.read_table(store / "current_codes.parquet")
    assert set(exported.column("version").to_pylist()) == {r.version for r in s.modalities.values()}


def test_integer_ids_round_trip_in_exports(tmp_path):
    """Integer item ids stay integers in the Parquet exports (feature vectors only: no model needed)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    pq.write_table(pa.table({"item_id": pa.array(range(100, 140), pa.int64()),
                             "feat_text": pa.array(vectors.tolist(), pa.list_(pa.float32()))}),
                   tmp_path / "c.parquet")
    cfg = load_config(None, tokenizer={**TOKENIZER, "method": "rqkmeans"})
    s = tokenize(tmp_path / "c.parquet", tmp_path / "store", cfg, progress=False)
    assert s.new == 40 and s.modalities["text"].encoded == 40
    exported = pq.read_table(tmp_path / "store" / "current_codes.parquet")
    assert exported.schema.field("item_id").type == pa.int64()
    assert sorted(exported.column("item_id").to_pylist()) == list(range(100, 140))


def test_a_changed_tokenizer_config_is_flagged_not_silently_ignored(base, work, caplog):
    folder, cfg, store = work
    old = dict(query(store, "SELECT modality, version FROM tokenizer_versions"))
    with caplog.at_level("WARNING", logger="motorec.pipeline.encode"):
        tokenize(folder / "catalog.parquet", store, cfg, progress=False)
    ours = [r for r in caplog.records if r.name == "motorec.pipeline.encode"]
    assert not ours  # same config: nothing to say
    moved = make_config(folder / "models" / "motorec-tiny-clip.json", seed=1)
    with caplog.at_level("WARNING", logger="motorec.pipeline.encode"):
        s = tokenize(folder / "catalog.parquet", store, moved, progress=False)
    assert {r.version for r in s.modalities.values()} == set(old.values())  # still coding with the current one
    text = " ".join(r.getMessage() for r in caplog.records if r.name == "motorec.pipeline.encode")
    for m, v in old.items():
        assert f"{m}: the configured tokenizer differs from current version {v} (seed 0 -> 1)" in text
    assert "--retrain" in text
