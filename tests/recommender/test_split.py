import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from motorec.errors import InputError
from motorec.recommender.split import read_split, strict_cold_split, write_split


@pytest.fixture(scope="module")
def interactions():
    rng = np.random.default_rng(0)
    n = 3000
    return pa.table(
        {
            "user_id": pa.array([f"u{x}" for x in rng.integers(0, 80, n)]),
            "item_id": pa.array(rng.integers(0, 200, n) * 7, pa.int64()),
            "timestamp": pa.array(rng.integers(0, 10**6, n), pa.int64()).cast(pa.timestamp("s")),
        }
    )


def pairs(table):
    return set(zip(table.column("user_id").to_pylist(), table.column("item_id").to_pylist(), strict=True))


def items(table):
    return set(table.column("item_id").to_pylist())


def test_cold_items_are_held_out_entirely(interactions):
    split = strict_cold_split(interactions, seed=1)
    cold = items(split.cold_items)
    n_items = len(pc.unique(interactions.column("item_id")))
    assert len(cold) == round(0.2 * n_items)
    assert not cold & items(split.train)
    assert not cold & (items(split.warm_valid) | items(split.warm_test))
    assert items(split.cold_valid) | items(split.cold_test) <= cold


def test_cold_items_split_one_to_one_into_disjoint_valid_and_test(interactions):
    split = strict_cold_split(interactions, seed=1)
    parts = split.cold_items.column("part").to_pylist()
    assert abs(parts.count("valid") - parts.count("test")) <= 1
    valid_items = {
        i for i, p in zip(split.cold_items.column("item_id").to_pylist(), parts, strict=True) if p == "valid"
    }
    assert items(split.cold_valid) <= valid_items
    assert not items(split.cold_valid) & items(split.cold_test)


def test_every_distinct_pair_lands_in_exactly_one_part(interactions):
    split = strict_cold_split(interactions, seed=2)
    tables = [split.train, split.warm_valid, split.warm_test, split.cold_valid, split.cold_test]
    sizes = sum(t.num_rows for t in tables)
    union = set().union(*(pairs(t) for t in tables))
    assert sizes == len(union) == len(pairs(interactions))


def test_warm_items_keep_training_edges_and_users_keep_most_interactions(interactions):
    split = strict_cold_split(interactions, seed=3)
    assert items(split.warm_valid) | items(split.warm_test) <= items(split.train)
    held = split.warm_valid.num_rows + split.warm_test.num_rows
    warm_total = held + split.train.num_rows
    assert 0.1 < held / warm_total < 0.21


def test_deterministic_and_independent_of_row_order(interactions):
    a = strict_cold_split(interactions, seed=5)
    b = strict_cold_split(interactions, seed=5)
    shuffled = interactions.take(pa.array(np.random.default_rng(9).permutation(interactions.num_rows)))
    c = strict_cold_split(shuffled, seed=5)
    for name, table in a.parts().items():
        assert table.equals(b.parts()[name])
        if "user_id" in table.column_names:
            assert pairs(table) == pairs(c.parts()[name])
    assert items(a.cold_items) == items(c.cold_items)
    assert items(strict_cold_split(interactions, seed=6).cold_items) != items(a.cold_items)


def test_duplicates_keep_the_earliest_row():
    t = pa.table(
        {
            "user_id": [1, 1, 2],
            "item_id": [5, 5, 5],
            "timestamp": pa.array([20, 10, 30], pa.int64()).cast(pa.timestamp("s")),
            "weight": [1.0, 2.0, 3.0],
        }
    )
    split = strict_cold_split(t, cold_fraction=0.0, warm_valid=0.0, warm_test=0.0)
    assert split.train.num_rows == 2
    assert sorted(split.train.column("weight").to_pylist()) == [2.0, 3.0]


def test_round_trip_through_parquet(tmp_path, interactions):
    split = strict_cold_split(interactions, seed=4)
    write_split(split, tmp_path / "s")
    back = read_split(tmp_path / "s")
    for name, table in split.parts().items():
        assert back.parts()[name].cast(table.schema).equals(table)  # Parquet stores seconds as ms
    (tmp_path / "s" / "train.parquet").unlink()
    with pytest.raises(InputError, match="train.parquet"):
        read_split(tmp_path / "s")


def test_bad_input_is_an_input_error(interactions):
    with pytest.raises(InputError, match="item_id"):
        strict_cold_split(interactions.drop_columns(["item_id"]))
    with pytest.raises(InputError):
        strict_cold_split(interactions, cold_fraction=1.0)
