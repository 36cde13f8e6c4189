import logging
import re
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pytest

from motorec.errors import InputError
from motorec.pipeline.catalog import (
    ModalitySource,
    iter_catalog,
    needed_columns,
    plan_modalities,
    validate_catalog,
)
from motorec.pipeline.config import PipelineConfig

F32 = pa.list_(pa.float32())


def _err(path, **kw) -> str:
    with pytest.raises(InputError) as exc:
        validate_catalog(path, **kw)
    return str(exc.value)


def test_valid_catalog_with_every_column(tmp_path, write_parquet):
    path = write_parquet(
        tmp_path / "cat.parquet",
        {
            "item_id": ["a", "b", "c"],
            "title": ["A", None, "C"],
            "description": pa.array([None, None, None], pa.null()),
            "image": ["a.png", None, "http://127.0.0.1/c.png"],
            "image_bytes": pa.array([None, b"xx", None], pa.binary()),
            "updated_at": pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc)] * 3, pa.timestamp("us", "UTC")),
            "feat_image": pa.array([[0.1, 0.2], None, [0.3, 0.4]], F32),
            "feat_txt": pa.array([[1.0] * 3] * 3, pa.list_(pa.float64(), 3)),
            "year": [1999, 2000, 2001],
        },
    )
    info = validate_catalog(path)
    assert info.num_rows == 3 and info.path == path.resolve()
    assert info.columns.id_type == pa.string()
    assert info.columns.text == ("title", "description")
    assert info.columns.image and info.columns.image_bytes and info.columns.updated_at
    assert info.columns.features == ("feat_image", "feat_txt")
    assert info.columns.passthrough == ("year",)
    assert info.feature_dims == {"feat_image": 2, "feat_txt": 3}


def test_integer_ids_and_streaming_in_order(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": list(range(10)), "title": [f"t{i}" for i in range(10)]})
    info = validate_catalog(path, read_batch_rows=3)
    assert pa.types.is_integer(info.columns.id_type)
    batches = list(iter_catalog(info, columns=["title"], batch_rows=3))
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    assert batches[0].schema.names == ["item_id", "title"]
    assert [i for b in batches for i in b.column("item_id").to_pylist()] == list(range(10))


def test_missing_item_id_column(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"id": ["a"], "title": ["x"]})
    msg = _err(path)
    assert msg.startswith(str(path)) and "required column 'item_id' is missing" in msg


def test_item_id_of_wrong_type(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": [1.5, 2.5]})
    assert "column 'item_id' must be string or integer, got double" in _err(path)


def test_null_ids_name_rows(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a", None, "c", None, "e"]})
    assert "column 'item_id' has null values at rows 1, 3" in _err(path, read_batch_rows=2)


def test_duplicate_ids_across_batches_name_ids_and_rows(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a", "b", "c", "d", "a", "b", "b"]})
    msg = _err(path, read_batch_rows=2)
    assert "column 'item_id' has 2 duplicate id(s): 'a' (rows 0, 4), 'b' (rows 1, 5, 6)" in msg


def test_many_duplicate_integer_ids_are_summarised(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": list(range(6)) * 2})
    msg = _err(path)
    assert "6 duplicate id(s): 0 (rows 0, 6), 1 (rows 1, 7), 2 (rows 2, 8) and 3 more" in msg


@pytest.mark.parametrize(
    ("column", "values", "wanted"),
    [
        ("title", [1, 2], "column 'title' must be string (or null), got int64"),
        (
            "description",
            [[1.0], [2.0]],
            "column 'description' must be string (or null), got list<element: double>",
        ),
        ("image", [b"a", b"b"], "column 'image' must be a string path or URL, got binary"),
        ("image_bytes", ["a", "b"], "column 'image_bytes' must be binary, got string"),
        ("updated_at", ["2024-01-01", "x"], "column 'updated_at' must be a timestamp, got string"),
        ("feat_image", [[1, 2], [3, 4]], "column 'feat_image' must be list<float>, got list<element: int64>"),
        ("feat_", [[1.0], [2.0]], "column 'feat_' must be named feat_<modality>"),
    ],
)
def test_column_of_wrong_type_is_named(tmp_path, write_parquet, column, values, wanted):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a", "b"], column: values})
    msg = _err(path)
    assert msg.startswith(f"{path}: ") and wanted in msg


def test_feature_of_wrong_dimension_names_column_rows_and_sizes(tmp_path, write_parquet):
    vectors = [[0.0, 1.0], [1.0, 2.0], [1.0], None, [1.0, 2.0, 3.0], [4.0, 5.0]]
    path = write_parquet(tmp_path / "c.parquet", {"item_id": list("abcdef"), "feat_text": pa.array(vectors, F32)})
    msg = _err(path, read_batch_rows=2)
    assert "column 'feat_text' has vectors of the wrong dimension at rows 2, 4 (expected 2" in msg
    assert "got 1, 3)" in msg


def test_non_finite_features_name_rows(tmp_path, write_parquet):
    vectors = [[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0], [np.inf, 0.0], [0.0, -np.inf], [1.0, None]]
    path = write_parquet(tmp_path / "c.parquet", {"item_id": list("abcdef"), "feat_image": pa.array(vectors, F32)})
    msg = _err(path, read_batch_rows=4)
    assert "column 'feat_image' has NaN, infinite or null values at rows 1, 3, 4, 5" in msg


def test_many_bad_rows_are_counted(tmp_path, write_parquet):
    vectors = [[np.nan]] * 12 + [[1.0]]
    path = write_parquet(tmp_path / "c.parquet", {"item_id": list(range(13)), "feat_x": pa.array(vectors, F32)})
    assert "values at rows 0, 1, 2, 3, 4 (and 7 more)" in _err(path, read_batch_rows=5)


def test_every_problem_is_reported_at_once(tmp_path, write_parquet):
    path = write_parquet(
        tmp_path / "c.parquet",
        {"item_id": ["a", "a", "b"], "feat_x": pa.array([[1.0], [1.0, 2.0], [np.nan]], F32)},
    )
    msg = _err(path)
    assert re.search(
        r"duplicate id.*; column 'feat_x' has vectors of the wrong dimension.*; column 'feat_x' has NaN", msg
    )


def test_empty_vectors_are_refused(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a"], "feat_x": pa.array([[]], F32)})
    assert "column 'feat_x' holds empty vectors" in _err(path)


def test_empty_catalog(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", pa.table({"item_id": pa.array([], pa.string())}))
    assert _err(path) == f"{path}: the catalog is empty (0 rows)"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.parquet"
    assert _err(path) == f"catalog file not found: {path}"


def test_not_a_parquet_file(tmp_path):
    path = tmp_path / "cat.parquet"
    path.write_text("item_id,title\na,b\n")
    msg = _err(path)
    assert msg.startswith(f"{path}: not a readable Parquet file")


def test_directory_is_refused(tmp_path):
    assert _err(tmp_path) == f"{tmp_path}: is a directory; expected one Parquet file"


def test_all_null_feature_column_is_skipped_by_the_plan(tmp_path, write_parquet, caplog):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a"], "feat_x": pa.array([None], F32)})
    info = validate_catalog(path)
    assert info.feature_dims == {"feat_x": None}
    with caplog.at_level(logging.WARNING):
        assert plan_modalities(info, PipelineConfig()) == ()
    assert "entirely null" in caplog.text


def test_plan_modalities_and_needed_columns(tmp_path, write_parquet):
    path = write_parquet(
        tmp_path / "c.parquet",
        {
            "item_id": ["a"],
            "title": ["t"],
            "image": ["a.png"],
            "feat_text": pa.array([[1.0, 2.0]], F32),
            "feat_audio": pa.array([[1.0]], F32),
            "year": [1999],
        },
    )
    info = validate_catalog(path)
    cfg = PipelineConfig(clip_text=True, text_template="{title} ({year})")
    plan = plan_modalities(info, cfg)
    assert plan == (
        ModalitySource("image", "image"),
        ModalitySource("clip_text", "clip_text"),
        ModalitySource("text", "feature", column="feat_text", dim=2),
        ModalitySource("audio", "feature", column="feat_audio", dim=1),
    )
    assert needed_columns(plan, cfg, info) == ["item_id", "title", "year", "image", "feat_text", "feat_audio"]
    text_only = plan_modalities(info, PipelineConfig(modalities=("text",)))
    assert [p.modality for p in text_only] == ["text", "audio"]


def test_plan_without_text_inputs_skips_text(tmp_path, write_parquet):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a"], "image": ["a.png"]})
    plan = plan_modalities(validate_catalog(path), PipelineConfig(clip_text=True))
    assert plan == (ModalitySource("image", "image"),)


def test_template_may_read_any_column_and_warns_on_absent_ones(tmp_path, write_parquet, caplog):
    path = write_parquet(tmp_path / "c.parquet", {"item_id": ["a"], "title": ["t"], "image": ["a.png"]})
    info = validate_catalog(path)
    cfg = PipelineConfig(text_template="{item_id}: {titel} {title} {image}", modalities=("text", "image"))
    with caplog.at_level(logging.WARNING):
        plan = plan_modalities(info, cfg)
    assert "text_template reads ['titel'], absent from the catalog" in caplog.text
    assert [p.modality for p in plan] == ["text", "image"]
    assert needed_columns(plan, cfg, info) == ["item_id", "title", "image"]
