import pyarrow as pa
import pytest

from motorec.errors import InputError
from motorec.pipeline.schemas import (
    CATALOG_SCHEMA,
    INTERACTIONS_SCHEMA,
    check_catalog_schema,
    format_rows,
    validate_interactions,
)


def test_canonical_schemas_pass_their_own_checks():
    cols = check_catalog_schema(CATALOG_SCHEMA, "x")
    assert cols.text == ("title", "description") and cols.image and cols.image_bytes and cols.updated_at
    table = INTERACTIONS_SCHEMA.empty_table()
    assert validate_interactions(table, "x") is table


def test_duplicate_column_names_are_refused():
    schema = pa.schema([("item_id", pa.string()), ("title", pa.string()), ("title", pa.string())])
    with pytest.raises(InputError, match="x: column 'title' appears more than once"):
        check_catalog_schema(schema, "x")


def test_interactions_accept_integer_ids_and_unix_seconds():
    table = pa.table({"user_id": [1, 2], "item_id": ["a", "b"], "timestamp": [881250949, 891717742], "weight": [1, 5]})
    assert validate_interactions(table, "inter.parquet").num_rows == 2


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"item_id": ["a"]}, "inter.parquet: required column 'user_id' is missing"),
        ({"user_id": ["u"]}, "inter.parquet: required column 'item_id' is missing"),
        ({"user_id": [1.5], "item_id": ["a"]}, "column 'user_id' must be string or integer, got double"),
        (
            {"user_id": ["u"], "item_id": ["a"], "timestamp": ["2024"]},
            "column 'timestamp' must be a timestamp",
        ),
        (
            {"user_id": ["u"], "item_id": ["a"], "weight": ["high"]},
            "column 'weight' must be a number, got string",
        ),
        (
            {"user_id": ["u", "v", "w"], "item_id": ["a", None, None]},
            "column 'item_id' has null values at rows 1, 2",
        ),
        ({"user_id": [None, "v"], "item_id": ["a", "b"]}, "column 'user_id' has null values at row 0"),
    ],
)
def test_bad_interactions(columns, message):
    with pytest.raises(InputError) as exc:
        validate_interactions(pa.table(columns), "inter.parquet")
    assert message in str(exc.value)


def test_format_rows():
    assert format_rows([4]) == "row 4"
    assert format_rows([1, 2]) == "rows 1, 2"
    assert format_rows(list(range(5)), total=9) == "rows 0, 1, 2, 3, 4 (and 4 more)"
