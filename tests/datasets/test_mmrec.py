from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from motorec.datasets import (
    INTERACTIONS_SCHEMA,
    find_inter_file,
    load_mmrec,
    make_synthetic_mmrec,
    read_interactions,
    write_mmrec_parquet,
)
from motorec.errors import InputError


@pytest.fixture
def toy(tmp_path) -> Path:
    return make_synthetic_mmrec(tmp_path / "toy", n_users=12, n_items=20, dim=6, seed=3)


def read_inter_lines(path: Path) -> list[dict]:
    header, *rows = path.read_text().splitlines()
    names = header.split("\t")
    return [dict(zip(names, map(float, row.split("\t")), strict=True)) for row in rows]


def test_synthetic_folder_layout_and_determinism(tmp_path, toy):
    assert sorted(p.name for p in toy.iterdir()) == ["image_feat.npy", "text_feat.npy", "toy.inter"]
    again = make_synthetic_mmrec(tmp_path / "other" / "toy", n_users=12, n_items=20, dim=6, seed=3)
    for name in ("image_feat.npy", "text_feat.npy", "toy.inter"):
        assert (toy / name).read_bytes() == (again / name).read_bytes()
    assert np.load(toy / "image_feat.npy").shape == (20, 6)
    rows = read_inter_lines(toy / "toy.inter")
    assert {int(r["itemID"]) for r in rows} == set(range(20))  # every item interacted with
    per_user = {}
    for r in rows:
        per_user.setdefault(int(r["userID"]), []).append(r)
    for user_rows in per_user.values():  # latest is test, the one before valid
        latest = sorted(user_rows, key=lambda r: r["timestamp"])
        assert [r["x_label"] for r in latest[-2:]] == [1.0, 2.0]
        assert all(r["x_label"] == 0 for r in latest[:-2])


def test_load_keys_features_by_item_id_and_splits_by_x_label(toy):
    data = load_mmrec(toy)
    assert data.inter_path == toy / "toy.inter"
    catalog = data.catalog
    assert catalog.column_names == ["item_id", "feat_image", "feat_text"]
    assert catalog["item_id"].to_pylist() == list(range(20))
    for modality in ("image", "text"):
        feats = np.load(toy / f"{modality}_feat.npy")
        ids, vectors = catalog["item_id"].to_pylist(), catalog[f"feat_{modality}"].to_pylist()
        by_id = dict(zip(ids, vectors, strict=True))
        for item_id in (0, 7, 19):
            np.testing.assert_array_equal(np.asarray(by_id[item_id], np.float32), feats[item_id])

    rows = read_inter_lines(toy / "toy.inter")
    assert set(data.splits) == {"train", "valid", "test"}
    for label, name in enumerate(["train", "valid", "test"]):
        split = data.splits[name]
        assert split.schema.equals(INTERACTIONS_SCHEMA)
        expected = [(int(r["userID"]), int(r["itemID"]), r["rating"], int(r["timestamp"]))
                    for r in rows if r["x_label"] == label]
        got = [(r["user_id"], r["item_id"], r["weight"], int(r["timestamp"].timestamp()))
               for r in split.to_pylist()]
        assert got == expected
    assert sum(t.num_rows for t in data.splits.values()) == len(rows)


def test_row_i_is_item_i_on_a_hand_made_folder(tmp_path):
    folder = tmp_path / "hand"
    folder.mkdir()
    # Columns in another order, no rating, no timestamp.
    (folder / "hand.inter").write_text("itemID\tuserID\tx_label\n2\t0\t0\n0\t1\t2\n1\t0\t1\n")
    np.save(folder / "text_feat.npy", np.array([[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]], np.float32))
    data = load_mmrec(folder)
    assert data.catalog.to_pylist() == [
        {"item_id": 0, "feat_text": [0.0, 0.5]},
        {"item_id": 1, "feat_text": [1.0, 1.5]},
        {"item_id": 2, "feat_text": [2.0, 2.5]},
    ]
    row = {"timestamp": None, "weight": 1.0}
    assert data.splits["train"].to_pylist() == [{"user_id": 0, "item_id": 2, **row}]
    assert data.splits["valid"].to_pylist() == [{"user_id": 0, "item_id": 1, **row}]
    assert data.splits["test"].to_pylist() == [{"user_id": 1, "item_id": 0, **row}]


@pytest.mark.parametrize("rows", [19, 21])
def test_mismatched_feature_rows_name_the_file(toy, rows):
    np.save(toy / "image_feat.npy", np.zeros((rows, 6), np.float32))
    with pytest.raises(InputError, match=rf"image_feat\.npy: has {rows} rows but toy\.inter has 20 items"):
        load_mmrec(toy)


def test_non_finite_features_name_file_and_item(toy):
    feats = np.load(toy / "text_feat.npy")
    feats[4, 2] = np.nan
    np.save(toy / "text_feat.npy", feats)
    with pytest.raises(InputError, match=r"text_feat\.npy: NaN or infinite .* \(itemID\) \[4\]"):
        load_mmrec(toy)


def test_modality_selection_and_missing_modality(toy):
    assert load_mmrec(toy, modalities=["text"]).catalog.column_names == ["item_id", "feat_text"]
    with pytest.raises(InputError, match=r"audio_feat\.npy: feature file not found"):
        load_mmrec(toy, modalities=["audio"])


@pytest.mark.parametrize("content, message", [
    ("userID\titemID\tx_label\n0\t1\t0\n0\t2\t5\n", r"x_label.*line\(s\) \[3\] hold \[5\]"),
    ("userID\titemID\tx_label\n0\t-1\t0\n", r"'itemID' is negative on line\(s\) \[2\]"),
    ("userID\titemID\n0\t1\n", r"missing column 'x_label'"),
    ("userID\titemID\tx_label\n0\tbook\t0\n", r"toy\.inter"),
])
def test_bad_inter_file(toy, content, message):
    (toy / "toy.inter").write_text(content)
    with pytest.raises(InputError, match=message):
        load_mmrec(toy)


def test_inter_file_detection(tmp_path, toy):
    (toy / "extra.inter").write_text("userID\titemID\tx_label\n")
    assert find_inter_file(toy) == toy / "toy.inter"  # the folder's name wins among several
    (toy / "toy.inter").unlink()
    assert find_inter_file(toy) == toy / "extra.inter"
    (toy / "more.inter").write_text("")
    with pytest.raises(InputError, match="several .inter files"):
        find_inter_file(toy)
    with pytest.raises(InputError, match="no .inter file"):
        find_inter_file(tmp_path)


def test_parquet_round_trip(tmp_path, toy):
    data = load_mmrec(toy)
    catalog_path, split_paths = write_mmrec_parquet(toy, tmp_path / "out")
    assert pq.read_table(catalog_path).equals(data.catalog)
    for name, path in split_paths.items():
        assert path.name == f"{name}.parquet"
        assert read_interactions(path).equals(data.splits[name])
    assert pc.count(pq.read_table(catalog_path)["item_id"]).as_py() == 20
