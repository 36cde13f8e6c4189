"""What the report shows, read from a store through a read-only DuckDB connection.

Every function takes a connection from `motorec.sql.connect_readonly` and returns plain Python values
(lists of dicts), so the plotting and HTML code never touches DuckDB. Nothing here writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np

from motorec.errors import InputError
from motorec.sql import connect_readonly, run_query

DB_NAME = "motorec.duckdb"
TAU = 10  # degree at and above which an item counts as warm (METHOD.md cold threshold)
# display order of evaluation settings / degree buckets (others follow alphabetically)
SETTING_ORDER = ("warm", "long_tail", "cold", "strict_cold", "all")


def open_store(store_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """Open `<store_dir>/motorec.duckdb` read-only; InputError when the store is missing or empty."""
    root = Path(store_dir).expanduser()
    if not root.exists():
        raise InputError(f"store not found: {root} does not exist (run `motorec tokenize` first)")
    if not root.is_dir():
        raise InputError(f"store must be a directory, got the file {root}")
    db = root / DB_NAME
    if not db.is_file():
        raise InputError(f"{root} is not a MoToRec store (no {DB_NAME}); run `motorec tokenize` first")
    con = connect_readonly(db)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        if not {"t_items", "t_tokenizer_versions", "t_item_codes"} <= tables:
            raise InputError(f"{db} does not hold the MoToRec store schema")
        if not con.execute("SELECT count(*) FROM t_tokenizer_versions").fetchall()[0][0]:
            raise InputError(f"the store {root} is empty: no tokenizer version yet (run `motorec tokenize`)")
    except BaseException:
        con.close()
        raise
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _json(value) -> dict:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def overview(con: duckdb.DuckDBPyConnection) -> dict:
    """Counts, current versions per modality and the last runs."""
    one = lambda sql: con.execute(sql).fetchall()[0][0]  # noqa: E731
    current = _rows(con, """
        SELECT v.modality, v.version, v.levels, v.codebook_size, v.created_at, v.parent_version,
               (SELECT count(*) FROM t_item_codes c WHERE c.modality = v.modality AND c.version = v.version)
                   AS items_coded,
               (SELECT count(*) FROM t_tokenizer_versions w WHERE w.modality = v.modality) AS versions
        FROM t_tokenizer_versions v WHERE v.is_current ORDER BY v.modality""")
    runs = [dict(r) for r in run_query(con, "recent_runs", {"k": 8}).to_pylist()]
    for r in runs:
        r["counts"] = _json(r.get("counts"))
    return {
        "items": one("SELECT count(*) FROM t_items"),
        "modalities": [r["modality"] for r in current],
        "versions": one("SELECT count(*) FROM t_tokenizer_versions"),
        "interactions": one("SELECT count(*) FROM t_interactions"),
        "errors": one("SELECT count(*) FROM t_errors"),
        "evaluations": one("SELECT count(*) FROM t_evaluations"),
        "current": current,
        "runs": runs,
    }


def code_usage(con: duckdb.DuckDBPyConnection) -> dict[str, dict]:
    """Per modality (current version): the `code_usage` rows and items per code value for each level."""
    out: dict[str, dict] = {}
    for row in run_query(con, "code_usage", {}).to_pylist():
        entry = out.setdefault(row["modality"], {"version": row["version"], "levels": [], "counts": {}})
        entry["levels"].append(row)
    for modality, entry in out.items():
        k = max(r["codebook_size"] for r in entry["levels"])
        for r in entry["levels"]:
            entry["counts"][r["level"]] = np.zeros(k, dtype=np.int64)
        counts = con.execute("""
            SELECT level, code, count(*) FROM (
                SELECT generate_subscripts(codes, 1) AS level, unnest(codes) AS code
                FROM t_item_codes WHERE modality = ? AND version = ?)
            GROUP BY level, code""", [modality, entry["version"]]).fetchall()
        for level, code, n in counts:
            arr = entry["counts"].get(level)
            if arr is not None and 0 <= code < len(arr):
                arr[code] = n
    return out


def version_health(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """Per modality, every tokenizer version (oldest first) with its perplexity and collision rate.

    Perplexity per level and collision rate come from the version's stats over the whole catalog
    (`catalog_health`, else the fit sample's `health`); the collision rate falls back to the stored codes.
    """
    rows = run_query(con, "version_summary", {}).to_pylist()
    stats = {(r["modality"], r["version"]): _json(r["stats"])
             for r in _rows(con, "SELECT modality, version, stats FROM t_tokenizer_versions")}
    out: dict[str, list[dict]] = {}
    for r in rows:
        st = stats.get((r["modality"], r["version"]), {})
        health = st.get("catalog_health") or st.get("health") or {}
        fit = st.get("health") or {}
        perplexity = health.get("perplexity") or fit.get("perplexity") or []
        collision = health.get("collision_rate", r["collision_rate"])
        out.setdefault(r["modality"], []).append({
            **r,
            "perplexity": [float(p) for p in perplexity],
            "collision_rate": float(collision) if collision is not None else float("nan"),
            "utilisation": [float(u) for u in (health.get("utilisation") or [])],
            "mse": fit.get("mse"),
            "method": st.get("method"),
        })
    return out


def churn(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Churn of every version against its parent: per level share changed and share of prefixes kept."""
    pairs = _rows(con, """
        SELECT modality, version, parent_version FROM t_tokenizer_versions
        WHERE parent_version IS NOT NULL ORDER BY modality, created_at, version""")
    out = []
    for p in pairs:
        rows = run_query(con, "churn", {"modality": p["modality"], "new": p["version"],
                                        "old": p["parent_version"]}).to_pylist()
        if rows:
            out.append({"modality": p["modality"], "old": p["parent_version"], "new": p["version"],
                        "items": rows[0]["items"], "levels": rows})
    return out


def evaluations(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The latest value of every (model, setting, metric, k) in the evaluations table."""
    return _rows(con, """
        SELECT model, setting, metric, k, arg_max(value, run_id) AS value, max(run_id) AS run_id
        FROM t_evaluations GROUP BY model, setting, metric, k ORDER BY model, setting, metric, k""")


def setting_key(setting: str) -> tuple[int, str]:
    """Sort key putting the degree buckets in reading order (warm, long-tail, cold, ..., all)."""
    return (SETTING_ORDER.index(setting) if setting in SETTING_ORDER else len(SETTING_ORDER), setting)


def current_codes_with_degree(con: duckdb.DuckDBPyConnection, modality: str, version: str) -> dict:
    """Codes (N, L) of a version's items with their training degree (0 when never interacted with)."""
    rows = con.execute("""
        SELECT c.item_id, c.codes, coalesce(d.degree, 0) AS degree
        FROM t_item_codes c LEFT JOIN item_degrees d USING (item_id)
        WHERE c.modality = ? AND c.version = ? ORDER BY c.item_id""", [modality, version]).fetchall()
    levels = max((len(r[1]) for r in rows), default=0)
    codes = np.array([list(r[1]) for r in rows if len(r[1]) == levels], dtype=np.int64).reshape(-1, levels)
    degree = np.array([r[2] for r in rows if len(r[1]) == levels], dtype=np.int64)
    return {"codes": codes, "degree": degree}
