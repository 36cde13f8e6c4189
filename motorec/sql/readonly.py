"""Read-only access to a store database for `motorec sql`, and DuckDB errors as one-line InputErrors.

Protection is layered, each layer checked by tests/sql/test_readonly.py:

1. the database is opened with `read_only=True` (INSERT, UPDATE, DELETE, DROP, CREATE, ALTER fail);
2. `enable_external_access=false` blocks reading or writing any other file: ATTACH, COPY ... TO/FROM,
   EXPORT DATABASE, read_csv/read_parquet/glob on paths, INSTALL/LOAD of extensions, persistent secrets;
3. `temp_directory=''`: DuckDB otherwise allow-lists `<db>.tmp/` even without external access, so
   `EXPORT DATABASE '<db>.tmp'` would write files into the store folder (it also turns off spilling);
4. `lock_configuration=true`, so no `SET` can undo the above;
5. `run_sql` parses the text first and runs only query statements (SELECT, WITH, FROM, DESCRIBE, SHOW,
   SUMMARIZE, PIVOT, EXPLAIN, CALL), refusing the rest with a clear message before DuckDB runs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa

from motorec.errors import InputError, MotorecError, StoreError

READ_ONLY = "the store is read-only through motorec sql"

# Applied when the database opens; `lock_configuration` then freezes every setting for the session.
READ_ONLY_CONFIG: dict[str, object] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "temp_directory": "",
    "lock_configuration": True,
}

# PRAGMA is left out: it covers IMPORT DATABASE and, before duckdb 1.1, settings the lock misses.
_QUERY_TYPES = frozenset({"SELECT", "EXPLAIN", "CALL", "MULTI"})  # MULTI: PIVOT


def one_line(message: str) -> str:
    """Squeeze a DuckDB error message to one line: drop the `LINE n:` caret block, join the rest."""
    kept = []
    for line in message.strip().splitlines():
        if not line.strip() or line.startswith("LINE "):
            break
        kept.append(line.strip())
    return " ".join(kept) or message.strip()


def translate_error(exc: duckdb.Error) -> MotorecError:
    """Turn a DuckDB error raised by a user's SQL into an InputError with a one-line message."""
    msg = one_line(str(exc))
    if isinstance(exc, duckdb.PermissionException) or "disabled by configuration" in msg \
            or "disabled through configuration" in msg:
        return InputError(f"{READ_ONLY}: files, ATTACH, COPY, EXPORT and extensions are disabled ({msg})")
    if "read-only mode" in msg or "configuration has been locked" in msg \
            or "belongs to an attached database" in msg:
        return InputError(f"{READ_ONLY}: {msg}")
    return InputError(f"SQL error: {msg}")


def connect_readonly(db_path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """Open a store database so that nothing through this connection can change files.

    Args:
        db_path: Path of the store's DuckDB database file.

    Returns:
        A connection on which writes, file access, ATTACH, COPY, EXPORT, extension loading and `SET`
        fail (see the module docstring). A WAL left by a crashed writer is replayed in memory only.

    Raises:
        InputError: The file is missing, is a directory or is not a DuckDB database.
        StoreError: Another process (or this one, with another configuration) has the database open.
    """
    path = Path(db_path).expanduser().absolute()
    if not path.exists():
        raise InputError(f"store database not found: {path}")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a DuckDB database file")
    try:
        return duckdb.connect(str(path), read_only=True, config=dict(READ_ONLY_CONFIG))
    except duckdb.Error as exc:
        msg = one_line(str(exc))
        if "lock" in msg.lower() or "different configuration" in msg:
            raise StoreError(f"the store database {path} is in use and cannot be opened now: {msg}") from exc
        if "not a valid DuckDB database" in msg:
            raise InputError(f"{path} is not a DuckDB database file") from exc
        raise InputError(f"cannot open {path} read-only: {msg}") from exc


def _to_arrow(rel: duckdb.DuckDBPyRelation | None) -> pa.Table:
    if rel is None:  # the last statement returned no result set
        return pa.table({})
    to_table = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table  # duckdb 2.x / 1.x
    return to_table()


def execute(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None
) -> pa.Table:
    """Run SQL with named `$params` bound by DuckDB and return the last result as a pyarrow Table.

    Raises:
        InputError: DuckDB rejected the statement (message translated by `translate_error`).
    """
    try:
        rel = con.sql(sql, params=params) if params else con.sql(sql)
        return _to_arrow(rel)
    except duckdb.Error as exc:
        raise translate_error(exc) from exc


def _keyword(text: str) -> str:
    words = text.strip().lstrip("(").split()
    return words[0].upper() if words else "empty"


def check_query_only(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """Refuse SQL that holds anything but query statements; return how many statements it holds.

    Parsing goes through `con` (not the module's default connection) because some statements are
    expanded while parsing: duckdb 1.0 reads `IMPORT DATABASE`'s files at that point.

    Raises:
        InputError: A statement is not a query, the SQL does not parse, or it is empty.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise translate_error(exc) from exc
    if not statements:
        raise InputError("no SQL statement given")
    for statement in statements:
        try:
            kind = statement.type.name
        except ValueError:  # a statement type this duckdb build's Python enum does not know
            kind = "UNKNOWN"
        if kind not in _QUERY_TYPES:
            raise InputError(
                f"{READ_ONLY}: {_keyword(statement.query or sql)} statements are not allowed "
                "(only SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN, CALL)"
            )
    return len(statements)


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """Run ad-hoc SQL (one or more `;`-separated query statements) and return the last result.

    Args:
        con: Usually a connection from `connect_readonly`.
        sql: The user's SQL text; nothing is formatted into it.

    Returns:
        The last statement's result (an empty table when it returns no rows and no columns).

    Raises:
        InputError: A statement is not a query, or DuckDB rejected it (one-line message).
    """
    check_query_only(con, sql)
    return execute(con, sql)
