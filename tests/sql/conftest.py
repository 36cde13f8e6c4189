"""A tiny hand-written store shared by the SQL tests (expected results are computed by hand from it)."""

import duckdb
import pytest

from motorec.sql.surface import ensure_schema

# item -> interactions: a 2, b 1, c 1, f 1; d and e are cold (degree 0)
INTERACTIONS = [("u1", "a"), ("u2", "a"), ("u1", "b"), ("u2", "c"), ("u3", "f")]

VERSIONS = [  # version, modality, created_at, levels, K, is_current, parent
    ("v1", "text", "2024-01-01", 3, 4, False, None),
    ("v2", "text", "2024-02-01", 3, 4, True, "v1"),
    ("i1", "image", "2024-01-15", 2, 3, True, None),
]

CODES = {  # (modality, version) -> item -> (codes, suffix)
    ("text", "v2"): {
        "a": ([0, 1, 2], 0), "b": ([0, 1, 3], 0), "c": ([0, 2, 1], 0),
        "d": ([0, 1, 2], 1), "e": ([1, 0, 0], 0), "f": ([1, 0, 3], 0),
    },
    ("text", "v1"): {
        "a": ([0, 1, 2], 0), "b": ([0, 2, 3], 0), "c": ([0, 2, 1], 0),
        "d": ([1, 1, 2], 0), "e": ([1, 0, 0], 0),
    },
    ("image", "i1"): {
        "a": ([2, 0], 0), "b": ([2, 1], 0), "c": ([0, 1], 0), "d": ([2, 0], 1), "e": ([1, 1], 0),
    },
}

RUNS = [
    (1, "tokenize", "2024-01-01 10:00:00", "2024-01-01 10:00:30", "ok", '{"items": 5}'),
    (2, "tokenize", "2024-02-01 10:00:00", "2024-02-01 10:01:00.5", "ok", '{"items": 6}'),
    (3, "train", "2024-02-02 08:00:00", None, "running", None),
]


def sid(modality: str, codes: list[int], suffix: int) -> str:
    letter = {"text": "t", "image": "i", "clip_text": "c"}[modality]
    out = "".join(f"<{letter}{i}_{c}>" for i, c in enumerate(codes, start=1))
    return out + (f"<{letter}#{suffix}>" if suffix else "")


def seed(con: duckdb.DuckDBPyConnection) -> None:
    """Insert the fixture rows into the t_ tables, then rebuild the code views."""
    ensure_schema(con)
    for item in "abcdef":
        con.execute("INSERT INTO t_items VALUES (?, ?, ?, 1, 1)", [item, item.upper(), f"h{item}"])
    con.executemany("INSERT INTO t_interactions VALUES (?, ?, NULL, 1.0)", INTERACTIONS)
    for version, modality, created, levels, k, current, parent in VERSIONS:
        con.execute(
            "INSERT INTO t_tokenizer_versions VALUES (?, ?, ?::TIMESTAMP, ?, ?, '{}', '{}', ?, ?, 1)",
            [version, modality, created, levels, k, current, parent],
        )
    for (modality, version), items in CODES.items():
        for item, (codes, suffix) in items.items():
            con.execute(
                "INSERT INTO t_item_codes VALUES (?, ?, ?, ?, ?, ?, 1)",
                [item, modality, version, codes, suffix, sid(modality, codes, suffix)],
            )
    con.executemany("INSERT INTO t_runs VALUES (?, ?, ?, ?, ?, ?)", RUNS)
    ensure_schema(con)  # the store calls it again once versions exist: c1..c3 appear


@pytest.fixture
def seed_store():
    """The `seed` function, for tests that build their own database (no conftest import needed)."""
    return seed


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    seed(connection)
    yield connection
    connection.close()
