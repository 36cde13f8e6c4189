"""connect_readonly + run_sql: write attempts fail with InputError and the store's files stay identical."""

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from motorec.errors import InputError, StoreError
from motorec.sql import connect_readonly, list_queries, run_query, run_sql
from motorec.sql.readonly import READ_ONLY


@pytest.fixture
def store(tmp_path: Path, seed_store) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    con = duckdb.connect(str(folder / "store.duckdb"))
    seed_store(con)
    con.close()
    pq.write_table(pa.table({"item_id": ["a"]}), folder / "codes.parquet")
    (folder / "data.csv").write_text("a,b\n1,2\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and directory under `folder`, files with their sha256."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), folder) + "/"] = "dir"
        for f in files:
            path = os.path.join(root, f)
            out[os.path.relpath(path, folder)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return out


# (statement, also refused by DuckDB itself when run on the raw connection, bypassing run_sql's check)
WRITES = [
    ("INSERT INTO t_items VALUES ('z', 'Z', 'hz', 1, 1)", True),
    ("UPDATE t_items SET title = 'x'", True),
    ("DELETE FROM t_interactions", True),
    ("DROP TABLE t_items", True),
    ("DROP VIEW current_codes", True),
    ("CREATE TABLE x AS SELECT 1 AS a", True),
    ("CREATE VIEW v AS SELECT 1 AS a", True),
    ("CREATE MACRO m(a) AS a + 1", True),
    ("ALTER TABLE t_items ADD COLUMN z INTEGER", True),
    ("CREATE TEMP TABLE t AS SELECT 1 AS a", False),  # DuckDB allows temp (in-memory) objects
    ("ATTACH '{folder}/other.duckdb' AS other", True),
    ("ATTACH '{folder}/store.duckdb' AS again", False),  # allowed by DuckDB, but again read-only
    ("ATTACH ':memory:' AS mem", True),
    ("COPY (SELECT 1) TO '{folder}/out.csv'", True),
    ("COPY t_items TO '{folder}/store.duckdb'", True),
    ("COPY t_items TO '{folder}/store.duckdb.wal'", True),
    ("COPY t_items FROM '{folder}/data.csv'", True),
    ("EXPORT DATABASE '{folder}/export'", True),
    ("EXPORT DATABASE '{folder}/store.duckdb.tmp'", True),  # allow-listed unless temp_directory=''
    ("IMPORT DATABASE '{folder}/export'", True),
    ("INSTALL httpfs", True),
    ("LOAD httpfs", True),
    ("FORCE INSTALL httpfs", True),
    ("UPDATE EXTENSIONS", False),  # duckdb 2.0 refuses it, 1.0 runs it as a no-op; 2.0's enum can't name it
    ("SET enable_external_access = true", True),
    ("SET lock_configuration = false", True),
    ("RESET enable_external_access", True),
    ("SET temp_directory = '{folder}'", True),
    ("PRAGMA enable_profiling", False),  # 2.0 refuses it; 1.0 allows it, its output file stays locked
    ("PRAGMA import_database('{folder}/export')", True),
    ("CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", True),
    ("SELECT * FROM read_csv('{folder}/data.csv')", True),
    ("SELECT * FROM read_parquet('{folder}/codes.parquet')", True),
    ("SELECT * FROM '{folder}/codes.parquet'", True),
    ("SELECT * FROM read_text('/etc/hostname')", True),
    ("SELECT * FROM glob('{folder}/*')", True),
    ("SELECT 1; DROP TABLE t_items", True),
    ("BEGIN TRANSACTION", False),
    ("VACUUM", False),  # a no-op on a read-only database; refused by run_sql all the same
    ("DETACH store", True),
]


@pytest.mark.parametrize("statement, duckdb_refuses", WRITES, ids=[w[0][:40] for w in WRITES])
def test_writes_and_file_access_fail_and_leave_the_store_identical(store, statement, duckdb_refuses):
    sql = statement.format(folder=store)
    before = snapshot(store)
    con = connect_readonly(store / "store.duckdb")
    with pytest.raises(InputError) as info:
        run_sql(con, sql)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(READ_ONLY) or message.startswith("SQL error: Catalog Error")
    if duckdb_refuses:  # the second layer holds on its own
        with pytest.raises(duckdb.Error):
            relation = con.sql(sql)
            if relation is not None:
                relation.fetchall()
    con.close()
    assert snapshot(store) == before


def test_read_only_message_names_the_statement(store):
    con = connect_readonly(store / "store.duckdb")
    with pytest.raises(InputError, match=rf"^{READ_ONLY}: INSERT statements are not allowed"):
        run_sql(con, "INSERT INTO t_items VALUES ('z', 'Z', 'hz', 1, 1)")
    with pytest.raises(InputError, match=rf"^{READ_ONLY}: files, ATTACH, COPY, EXPORT and extensions"):
        run_sql(con, f"SELECT * FROM read_csv('{store}/data.csv')")


def test_queries_views_and_named_queries_work_read_only(store):
    before = snapshot(store)
    con = connect_readonly(store / "store.duckdb")
    got = run_sql(con, "SELECT item_id, sid FROM current_codes WHERE c1 = 1 AND modality = 'text' ORDER BY 1")
    assert got.to_pylist() == [{"item_id": "e", "sid": "<t1_1><t2_0><t3_0>"},
                               {"item_id": "f", "sid": "<t1_1><t2_0><t3_3>"}]
    assert run_sql(con, "SELECT * FROM current_codes WHERE c1 = 12").num_rows == 0
    for view in ("items", "runs", "errors", "tokenizer_versions", "item_codes", "item_degrees"):
        run_sql(con, f"SELECT * FROM {view}")
    for sql in ("DESCRIBE current_codes", "SHOW TABLES", "SUMMARIZE t_items", "EXPLAIN SELECT 1",
                "SELECT * FROM pragma_table_info('items')", "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
                "FROM items LIMIT 1", "CALL pragma_version()", "CHECKPOINT"):
        run_sql(con, sql)
    for q in list_queries():
        run_query(con, q.name, {p.name: "a" for p in q.params if p.required})
    con.close()
    assert snapshot(store) == before


def test_pivot_reads_where_duckdb_parses_it_as_one_statement(store):
    con = connect_readonly(store / "store.duckdb")
    sql = "PIVOT current_codes ON modality USING count(*) GROUP BY c1 ORDER BY c1"
    if len(con.extract_statements(sql)) != 1:  # duckdb 1.0 splits it into CREATE TYPE + SELECT
        pytest.skip("this duckdb expands PIVOT into a CREATE statement")
    assert run_sql(con, sql).to_pylist() == [
        {"c1": 0, "image": 1, "text": 4}, {"c1": 1, "image": 1, "text": 2}, {"c1": 2, "image": 3, "text": 0}]


def test_missing_directory_and_non_database_paths(tmp_path):
    with pytest.raises(InputError, match=f"store database not found: {tmp_path / 'nope.duckdb'}"):
        connect_readonly(tmp_path / "nope.duckdb")
    assert not (tmp_path / "nope.duckdb").exists()
    with pytest.raises(InputError, match="is a directory"):
        connect_readonly(tmp_path)
    (tmp_path / "junk.duckdb").write_text("not a database")
    with pytest.raises(InputError, match="is not a DuckDB database file"):
        connect_readonly(tmp_path / "junk.duckdb")


def test_wal_of_a_crashed_writer_is_read_but_not_replayed_into_the_file(tmp_path):
    db = tmp_path / "crashed.duckdb"
    script = f"""
        import duckdb, os
        con = duckdb.connect({str(db)!r})
        con.execute("CREATE TABLE t_runs (run_id BIGINT)")
        con.execute("CHECKPOINT")
        con.execute("INSERT INTO t_runs VALUES (1), (2)")
        os._exit(0)  # no clean shutdown: the insert lives only in the WAL
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(script)], check=True)
    assert (tmp_path / "crashed.duckdb.wal").exists()
    before = snapshot(tmp_path)
    con = connect_readonly(db)
    assert run_sql(con, "SELECT count(*) AS n FROM t_runs").to_pylist() == [{"n": 2}]
    con.close()
    assert snapshot(tmp_path) == before


def test_store_held_by_a_writer_process_is_a_store_error(store):
    script = f"""
        import duckdb, sys, time
        con = duckdb.connect({str(store / 'store.duckdb')!r})
        print("ready", flush=True)
        sys.stdin.read()
    """
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="is in use and cannot be opened now"):
            connect_readonly(store / "store.duckdb")
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
