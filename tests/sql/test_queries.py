"""Each named query on the hand-written store of conftest.py, compared with hand-computed rows."""

import datetime as dt
import json
import math
import random

import duckdb
import pyarrow as pa
import pytest

from motorec.errors import InputError
from motorec.sql import format_table, get_query, list_queries, parse_param_pairs, run_query, run_sql
from motorec.sql.queries import QueryParam, parse_named_query
from motorec.sql.surface import create_code_views, ensure_schema


def rows(table: pa.Table) -> list[tuple]:
    return [tuple(r.values()) for r in table.to_pylist()]


def perplexity(*counts: int) -> float:
    total = sum(counts)
    return round(math.exp(-sum(c / total * math.log(c / total) for c in counts)), 4)


# --- the views -------------------------------------------------------------------------------------

def test_code_views_expose_one_column_per_level(con):
    cols = [r[0] for r in con.execute("DESCRIBE item_codes").fetchall()]
    assert cols == ["item_id", "modality", "version", "codes", "c1", "c2", "c3", "suffix", "sid", "run_id"]
    assert con.execute("SELECT count(*) FROM item_codes").fetchone() == (16,)
    assert con.execute("SELECT count(*) FROM current_codes").fetchone() == (11,)
    got = con.execute("SELECT item_id, modality, c1, c2, c3 FROM current_codes WHERE c1 = 1 "
                      "ORDER BY modality, item_id").fetchall()
    assert got == [("e", "image", 1, 1, None), ("e", "text", 1, 0, 0), ("f", "text", 1, 0, 3)]


def test_ensure_schema_on_empty_database_has_no_level_columns():
    con = duckdb.connect()
    assert ensure_schema(con) == 0
    cols = [r[0] for r in con.execute("DESCRIBE current_codes").fetchall()]
    assert cols == ["item_id", "modality", "version", "codes", "suffix", "sid", "run_id"]
    assert ensure_schema(con) == 0  # idempotent
    create_code_views(con, 2)
    assert "c2" in [r[0] for r in con.execute("DESCRIBE item_codes").fetchall()]


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_create_code_views_rejects_bad_level_counts(con, bad):
    with pytest.raises(ValueError):
        create_code_views(con, bad)


# --- the registry ----------------------------------------------------------------------------------

EXPECTED_QUERIES = {
    "churn", "code_usage", "cold_nearest_warm", "collisions", "dead_codes", "item_codes",
    "items_per_sid", "prefix_neighbors", "recent_runs", "version_summary",
}


def test_registry_lists_every_shipped_query():
    queries = list_queries()
    assert {q.name for q in queries} == EXPECTED_QUERIES
    assert [q.name for q in queries] == sorted(q.name for q in queries)
    for q in queries:
        assert q.description and "\n" not in q.description
        assert q.help_text().startswith(f"{q.name}: ")


def test_params_are_parsed_from_the_header():
    q = get_query("prefix_neighbors")
    assert [p.usage() for p in q.params] == [
        "item_id VARCHAR (required)", "n INTEGER = 2", "modality VARCHAR = 'text'", "k INTEGER = 100"]
    assert q.params[0] == QueryParam("item_id", "VARCHAR", None, True, "the item to match")
    assert get_query("code_usage").param("version").default is None


def test_unknown_query_lists_known_names():
    with pytest.raises(InputError, match="unknown query 'nope'; known queries: churn, code_usage"):
        get_query("nope")


@pytest.mark.parametrize("text, match", [
    ("SELECT 1", "missing '-- description:'"),
    ("-- description: x\n-- param: n INTEGER = 2 n\nSELECT $m", "differ from declared"),
    ("-- description: x\n-- param: n INTEGER = 2 n\nSELECT 1", "differ from declared"),
    ("-- description: x\n-- param: n TEXTY = 2 n\nSELECT $n", "cannot parse"),
    ("-- description: x\n-- param: n INTEGER two\nSELECT $n", "cannot parse"),
    ("-- description: x\n", "no SQL"),
])
def test_malformed_headers_are_rejected(text, match):
    with pytest.raises(ValueError, match=match):
        parse_named_query("q", text)


def test_comments_and_quoted_defaults_parse():
    q = parse_named_query("q", "-- description: d\n-- param: s VARCHAR = 'it''s' a note\n"
                               "-- a free comment\nSELECT $s -- uses $s\n")
    assert q.params[0].default == "it's" and q.params[0].description == "a note"


# --- parameter conversion --------------------------------------------------------------------------

@pytest.mark.parametrize("params, match", [
    ({}, r"query prefix_neighbors needs parameter item_id \(the item to match\)"),
    ({"item_id": "a", "n": "two"}, r"parameter n must be an INTEGER, got 'two'"),
    ({"item_id": "a", "n": "2.5"}, r"parameter n must be an INTEGER"),
    ({"item_id": "a", "n": "99999999999"}, r"out of range for INTEGER"),
    ({"item_id": "a", "n": True}, r"parameter n must be an INTEGER"),
    ({"item_id": "a", "limit": "3"}, r"no parameter 'limit'; it takes: item_id, n, modality, k"),
    ({"item_id": 1.5}, r"parameter item_id must be a VARCHAR"),
])
def test_bad_parameters_raise_input_error(con, params, match):
    with pytest.raises(InputError, match=match):
        run_query(con, "prefix_neighbors", params)


@pytest.mark.parametrize("type_, text, value", [
    ("INTEGER", " -3 ", -3), ("BIGINT", "9000000000", 9_000_000_000), ("DOUBLE", "0.25", 0.25),
    ("BOOLEAN", "Yes", True), ("BOOLEAN", "off", False), ("VARCHAR", 42, "42"),
])
def test_convert_reads_cli_strings(type_, text, value):
    assert QueryParam("p", type_, None, False, "").convert(text) == value


@pytest.mark.parametrize("type_, text", [("DOUBLE", "nan"), ("DOUBLE", "x"), ("BOOLEAN", "maybe")])
def test_convert_rejects_bad_values(type_, text):
    with pytest.raises(InputError, match=f"must be an? {type_}"):
        QueryParam("p", type_, None, False, "").convert(text)


def test_parse_param_pairs():
    assert parse_param_pairs(["item_id=42", "sql=a=b"]) == {"item_id": "42", "sql": "a=b"}
    with pytest.raises(InputError, match="key=value"):
        parse_param_pairs(["n"])
    with pytest.raises(InputError, match="given twice"):
        parse_param_pairs(["n=1", "n=2"])


def test_values_are_bound_not_formatted(con):
    # an injection attempt is just an item id that matches nothing
    assert run_query(con, "item_codes", {"item_id": "a' OR '1'='1"}).num_rows == 0
    assert con.execute("SELECT count(*) FROM t_items").fetchone() == (6,)


# --- each named query, exact results ---------------------------------------------------------------

def test_item_codes(con):
    table = run_query(con, "item_codes", {"item_id": "d"})
    assert table.column_names == ["item_id", "modality", "version", "codes", "suffix", "sid"]
    assert table.schema.field("codes").type == pa.list_(pa.int32())
    assert rows(table) == [
        ("d", "image", "i1", [2, 0], 1, "<i1_2><i2_0><i#1>"),
        ("d", "text", "v2", [0, 1, 2], 1, "<t1_0><t2_1><t3_2><t#1>"),
    ]
    assert run_query(con, "item_codes", {"item_id": "zzz"}).num_rows == 0


def test_prefix_neighbors(con):
    table = run_query(con, "prefix_neighbors", {"item_id": "a"})
    assert table.column_names == ["item_id", "title", "shared_prefix", "codes", "sid"]
    assert rows(table) == [
        ("d", "D", 3, [0, 1, 2], "<t1_0><t2_1><t3_2><t#1>"),
        ("b", "B", 2, [0, 1, 3], "<t1_0><t2_1><t3_3>"),
    ]
    got = run_query(con, "prefix_neighbors", {"item_id": "a", "n": "1"}).column("item_id").to_pylist()
    assert got == ["d", "b", "c"]
    assert run_query(con, "prefix_neighbors", {"item_id": "a", "n": "1", "k": "1"}).num_rows == 1
    assert run_query(con, "prefix_neighbors", {"item_id": "a", "n": "4"}).num_rows == 0
    image = run_query(con, "prefix_neighbors", {"item_id": "b", "n": "1", "modality": "image"})
    assert rows(image.select(["item_id", "shared_prefix"])) == [("a", 1), ("d", 1)]


def test_cold_nearest_warm(con):
    table = run_query(con, "cold_nearest_warm", {"k": "2"})
    assert table.column_names == ["cold_item_id", "rank", "warm_item_id", "shared_prefix", "warm_degree"]
    assert rows(table) == [("d", 1, "a", 3, 2), ("d", 2, "b", 2, 1), ("e", 1, "f", 2, 1)]
    # image: d [2,0] -> a [2,0] (3 is not a level: 2), b [2,1]; e [1,1] has no warm item starting with 1
    assert rows(run_query(con, "cold_nearest_warm", {"modality": "image"})) == [
        ("d", 1, "a", 2, 2), ("d", 2, "b", 1, 1)]


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@pytest.mark.parametrize("k", [1, 3, 10])
def test_cold_nearest_warm_agrees_with_brute_force(k):
    # crowded buckets (K=3) so the per-bucket pruning in the SQL matters
    rng = random.Random(7)
    con = duckdb.connect()
    ensure_schema(con)
    con.execute("INSERT INTO t_tokenizer_versions VALUES ('v', 'text', NULL, 3, 3, '{}', '{}', true, NULL, 1)")
    codes, degree = {}, {}
    for i in range(80):
        item = f"i{i:02d}"
        codes[item] = [rng.randrange(3) for _ in range(3)]
        degree[item] = rng.choice([0, 0, 1, 2, 3])
        con.execute("INSERT INTO t_items VALUES (?, NULL, NULL, 1, 1)", [item])
        con.execute("INSERT INTO t_item_codes VALUES (?, 'text', 'v', ?, 0, '', 1)", [item, codes[item]])
        for u in range(degree[item]):
            con.execute("INSERT INTO t_interactions VALUES (?, ?, NULL, 1)", [f"u{u}", item])
    expected = []
    for cold in sorted(i for i in codes if degree[i] == 0):
        warm = [(shared_prefix(codes[cold], codes[w]), degree[w], w) for w in codes if degree[w] > 0]
        warm = sorted((x for x in warm if x[0] >= 1), key=lambda x: (-x[0], -x[1], x[2]))[:k]
        expected += [(cold, r, w, s, d) for r, (s, d, w) in enumerate(warm, start=1)]
    assert rows(run_query(con, "cold_nearest_warm", {"k": k})) == expected


def test_code_usage_current_versions(con):
    table = run_query(con, "code_usage", {})
    assert table.column_names == ["modality", "version", "level", "items", "codes_used", "codebook_size",
                                  "share_used", "dead_codes", "perplexity"]
    assert rows(table) == [
        ("image", "i1", 1, 5, 3, 3, 1.0, 0, perplexity(3, 1, 1)),
        ("image", "i1", 2, 5, 2, 3, 0.6667, 1, perplexity(2, 3)),
        ("text", "v2", 1, 6, 2, 4, 0.5, 2, perplexity(4, 2)),
        ("text", "v2", 2, 6, 3, 4, 0.75, 1, perplexity(3, 1, 2)),
        ("text", "v2", 3, 6, 4, 4, 1.0, 0, perplexity(2, 2, 1, 1)),
    ]


def test_code_usage_of_an_older_version(con):
    table = run_query(con, "code_usage", {"version": "v1", "modality": "text"})
    assert rows(table.select(["version", "level", "items", "codes_used", "dead_codes"])) == [
        ("v1", 1, 5, 2, 2), ("v1", 2, 5, 3, 1), ("v1", 3, 5, 4, 0)]


def test_dead_codes(con):
    table = run_query(con, "dead_codes", {})
    assert table.column_names == ["modality", "version", "level", "codebook_size", "dead_count", "dead_codes"]
    assert rows(table) == [
        ("image", "i1", 1, 3, 0, []),
        ("image", "i1", 2, 3, 1, [2]),
        ("text", "v2", 1, 4, 2, [2, 3]),
        ("text", "v2", 2, 4, 1, [3]),
        ("text", "v2", 3, 4, 0, []),
    ]
    assert run_query(con, "dead_codes", {"modality": "image"}).num_rows == 2


def test_collisions(con):
    table = run_query(con, "collisions", {})
    assert rows(table) == [
        ("image", "i1", [2, 0], 2, ["a", "d"], [0, 1]),
        ("text", "v2", [0, 1, 2], 2, ["a", "d"], [0, 1]),
    ]
    assert run_query(con, "collisions", {"modality": "clip_text"}).num_rows == 0


def test_churn_defaults_to_current_against_its_parent(con):
    table = run_query(con, "churn", {})
    assert table.column_names == ["modality", "old_version", "new_version", "level", "items", "changed",
                                  "share_changed", "share_same_prefix"]
    assert rows(table) == [
        ("text", "v1", "v2", 1, 5, 1, 0.2, 0.8),
        ("text", "v1", "v2", 2, 5, 1, 0.2, 0.6),
        ("text", "v1", "v2", 3, 5, 0, 0.0, 0.6),
    ]
    explicit = run_query(con, "churn", {"old": "v1", "new": "v2", "modality": "text"})
    assert rows(explicit) == rows(table)
    same = run_query(con, "churn", {"old": "v2", "new": "v2"})
    assert rows(same.select(["share_changed", "share_same_prefix"])) == [(0.0, 1.0)] * 3
    assert run_query(con, "churn", {"modality": "image"}).num_rows == 0  # i1 has no parent


def test_items_per_sid(con):
    table = run_query(con, "items_per_sid", {})
    assert rows(table) == [
        ("<t1_0><t2_1><t3_2>", 2, ["a", "d"]),
        ("<t1_0><t2_1><t3_3>", 1, ["b"]),
        ("<t1_0><t2_2><t3_1>", 1, ["c"]),
        ("<t1_1><t2_0><t3_0>", 1, ["e"]),
        ("<t1_1><t2_0><t3_3>", 1, ["f"]),
    ]
    assert rows(run_query(con, "items_per_sid", {"n": "1"})) == [
        ("<t1_0>", 4, ["a", "b", "c", "d"]), ("<t1_1>", 2, ["e", "f"])]
    assert run_query(con, "items_per_sid", {"k": "2"}).num_rows == 2


def test_recent_runs(con):
    table = run_query(con, "recent_runs", {"k": "2"})
    assert rows(table) == [
        (3, "train", "running", dt.datetime(2024, 2, 2, 8), None, None, None),
        (2, "tokenize", "ok", dt.datetime(2024, 2, 1, 10), dt.datetime(2024, 2, 1, 10, 1, 0, 500000),
         60.5, '{"items": 6}'),
    ]


def test_version_summary(con):
    table = run_query(con, "version_summary", {})
    assert rows(table.select(["modality", "version", "is_current", "parent_version", "items",
                              "distinct_codes", "collision_rate"])) == [
        ("image", "i1", True, None, 5, 4, 0.2),
        ("text", "v1", False, None, 5, 5, 0.0),
        ("text", "v2", True, "v1", 6, 5, 0.1667),
    ]


def test_every_query_runs_on_an_empty_store():
    con = duckdb.connect()
    ensure_schema(con)
    for q in list_queries():
        params = {p.name: "x" for p in q.params if p.required}
        assert run_query(con, q.name, params).num_rows == 0, q.name


# --- ad-hoc SQL and formatting ---------------------------------------------------------------------

def test_run_sql_returns_the_last_result(con):
    assert rows(run_sql(con, "SELECT 1 AS a; SELECT item_id FROM current_codes WHERE c1 = 1 "
                             "AND modality = 'text' ORDER BY 1")) == [("e",), ("f",)]
    with pytest.raises(InputError, match="SQL error: Catalog Error: Table with name nope does not exist"):
        run_sql(con, "SELECT * FROM nope")
    with pytest.raises(InputError, match="SQL error: Parser Error"):
        run_sql(con, "SELEC 1")
    with pytest.raises(InputError, match="no SQL statement"):
        run_sql(con, "  ")


def test_format_table_text_csv_json(con):
    table = pa.table({
        "id": ["a", None], "codes": [[1, 2, 3], list(range(20))], "share": [0.5, 1.0],
        "ok": [True, False], "at": [dt.datetime(2024, 1, 2, 3, 4, 5), None],
    })
    text = format_table(table, "table").splitlines()
    assert text[0].split() == ["id", "codes", "share", "ok", "at"]
    assert "[1, 2, 3]" in text[2] and "true" in text[2] and "2024-01-02 03:04:05" in text[2]
    assert "NULL" in text[3] and "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, … +8]" in text[3]
    assert text[-1] == "(2 rows)"
    csv_lines = format_table(table, "csv").splitlines()
    assert csv_lines[0] == "id,codes,share,ok,at"
    assert csv_lines[1] == 'a,"[1, 2, 3]",0.5,true,2024-01-02 03:04:05'
    assert csv_lines[2].startswith(',"[0, 1, 2,') and csv_lines[2].endswith("19]\",1.0,false,")
    assert json.loads(format_table(table, "json")) == [
        {"id": "a", "codes": [1, 2, 3], "share": 0.5, "ok": True, "at": "2024-01-02T03:04:05"},
        {"id": None, "codes": list(range(20)), "share": 1.0, "ok": False, "at": None},
    ]
    assert format_table(table.slice(0, 0), "json") == "[]"
    with pytest.raises(InputError, match="unknown output format 'xml'"):
        format_table(table, "xml")


def test_format_table_on_a_query_result(con):
    out = format_table(run_query(con, "dead_codes", {}), "table")
    assert out.splitlines()[2].split() == ["image", "i1", "1", "3", "0", "[]"]
