"""The store's SQL surface: the fixed schema plus the two views whose columns depend on the level count.

`motorec/pipeline/store_schema.sql` declares the physical `t_*` tables and the level-independent views
(DESIGN.md "SQL surface"). `item_codes` and `current_codes` expose one column per code level
(`c1 .. cL`) so that ad-hoc SQL reads naturally (`SELECT * FROM current_codes WHERE c1 = 12`); L is only
known once a tokenizer version exists, so the store (re)creates them with `create_code_views` whenever
it adds a version with more levels than before.
"""

from __future__ import annotations

from importlib import resources

import duckdb

# Shipped beside the pipeline code; read through importlib.resources so no pipeline module is imported.
_SCHEMA_RESOURCE = ("pipeline", "store_schema.sql")


def schema_sql() -> str:
    """Return the text of `motorec/pipeline/store_schema.sql`."""
    return resources.files("motorec").joinpath(*_SCHEMA_RESOURCE).read_text(encoding="utf-8")


def create_code_views(con: duckdb.DuckDBPyConnection, max_levels: int) -> None:
    """(Re)create the `item_codes` and `current_codes` views with columns `c1 .. c<max_levels>`.

    `item_codes` has item_id, modality, version, codes (INTEGER[]), c1 .. c<max_levels> (INTEGER,
    `codes[i]`, NULL where a version has fewer levels), suffix, sid, run_id over `t_item_codes`;
    `current_codes` is the same restricted to each modality's current version
    (`t_tokenizer_versions.is_current`). Runs inside the caller's transaction when one is open.

    Args:
        con: A writable connection to a database holding the store schema.
        max_levels: Number of level columns to expose (0 gives no `c` columns).

    Raises:
        ValueError: If `max_levels` is not a non-negative integer.
    """
    if isinstance(max_levels, bool) or not isinstance(max_levels, int) or max_levels < 0:
        raise ValueError(f"max_levels must be a non-negative integer, got {max_levels!r}")
    # Column names are generated from a validated int, never from user text.
    level_cols = "".join(f"codes[{i}]::INTEGER AS c{i}, " for i in range(1, max_levels + 1))
    con.execute(
        "CREATE OR REPLACE VIEW item_codes AS "
        f"SELECT item_id, modality, version, codes, {level_cols}suffix, sid, run_id FROM t_item_codes"
    )
    con.execute(
        "CREATE OR REPLACE VIEW current_codes AS "
        "SELECT c.* FROM item_codes c WHERE EXISTS ("
        "SELECT 1 FROM t_tokenizer_versions v "
        "WHERE v.is_current AND v.modality = c.modality AND v.version = c.version)"
    )


def stored_max_levels(con: duckdb.DuckDBPyConnection) -> int:
    """Return the largest level count among stored tokenizer versions and code rows (0 when none)."""
    row = con.execute(
        "SELECT greatest("
        "(SELECT coalesce(max(levels), 0) FROM t_tokenizer_versions), "
        "(SELECT coalesce(max(len(codes)), 0) FROM t_item_codes))"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def ensure_schema(con: duckdb.DuckDBPyConnection) -> int:
    """Create the store's tables and views if missing, then the level-dependent code views.

    Idempotent: tables use `CREATE TABLE IF NOT EXISTS` and views `CREATE OR REPLACE`, so calling it
    on an existing store keeps its rows. Runs inside the caller's transaction when one is open.

    Args:
        con: A writable DuckDB connection (a store database or `:memory:`).

    Returns:
        The number of level columns (`c1 .. cL`) the code views now expose.
    """
    con.execute(schema_sql())
    levels = stored_max_levels(con)
    create_code_views(con, levels)
    return levels
