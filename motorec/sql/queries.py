"""Named SQL queries: a registry of the `motorec/sql/<name>.sql` files and a runner for them.

Each file answers one question. The registry parses its header comments; the runner converts CLI
strings to the declared parameter types and lets DuckDB bind them.

Header grammar (leading `--` lines; other comment lines are notes for readers)::

    -- description: one line saying what the query answers
    -- param: item_id VARCHAR (required) the item to match
    -- param: n INTEGER = 2 prefix length
    -- param: version VARCHAR = NULL tokenizer version (default: the current one)

Defaults are SQL literals: integers, decimals, 'quoted strings', true/false or NULL. Every `$name` in the
body must be declared and every declared parameter used; values are bound at execute time, never
formatted into the SQL text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import duckdb
import pyarrow as pa

from motorec.errors import InputError
from motorec.sql.formatting import format_table
from motorec.sql.readonly import READ_ONLY, connect_readonly, execute, run_sql

__all__ = [
    "READ_ONLY", "NamedQuery", "QueryParam", "connect_readonly", "format_table", "get_query",
    "list_queries", "parse_named_query", "parse_param_pairs", "run_query", "run_sql",
]

TYPES = ("VARCHAR", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN")
_INT_BITS = {"INTEGER": 32, "BIGINT": 64}
_TRUE, _FALSE = {"true", "t", "1", "yes", "y", "on"}, {"false", "f", "0", "no", "n", "off"}

_PARAM_RE = re.compile(
    r"^--\s*param:\s*(?P<name>[A-Za-z_]\w*)\s+(?P<type>[A-Za-z]+)\s+"
    r"(?:\(required\)|=\s*(?P<default>'(?:[^']|'')*'|\S+))\s*(?P<desc>.*)$"
)
_DOLLAR_RE = re.compile(r"\$([A-Za-z_]\w*)")


@dataclass(frozen=True)
class QueryParam:
    """One `$name` parameter of a named query: its DuckDB type, default and meaning."""

    name: str
    type: str
    default: object
    required: bool
    description: str

    def convert(self, value: object) -> object:
        """Convert a CLI string (or an already typed Python value) to this parameter's type.

        Raises:
            InputError: The value cannot be read as the declared type.
        """
        bad = InputError(f"parameter {self.name} must be {_article(self.type)} {self.type}, got {value!r}")
        if self.type == "VARCHAR":
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise bad
            return str(value)  # integer item ids are stored as their decimal string
        if self.type in _INT_BITS:
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad
            bits = _INT_BITS[self.type]
            if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                raise InputError(f"parameter {self.name} is out of range for {self.type}: {value}")
            return value
        if self.type == "DOUBLE":
            try:
                number = float(value) if not isinstance(value, bool) else math.nan
            except (TypeError, ValueError):
                raise bad from None
            if not math.isfinite(number):
                raise bad
            return number
        if isinstance(value, bool):  # BOOLEAN
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad

    def usage(self) -> str:
        """Return e.g. `item_id VARCHAR (required)` or `n INTEGER = 2`."""
        if self.required:
            return f"{self.name} {self.type} (required)"
        return f"{self.name} {self.type} = {_literal(self.default)}"


@dataclass(frozen=True)
class NamedQuery:
    """A named query shipped as `motorec/sql/<name>.sql`."""

    name: str
    description: str
    params: tuple[QueryParam, ...]
    sql: str

    def param(self, name: str) -> QueryParam:
        """Return the parameter called `name` (InputError naming the known ones otherwise)."""
        for p in self.params:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.params) or "no parameters"
        raise InputError(f"query {self.name} has no parameter {name!r}; it takes: {known}")

    def help_text(self) -> str:
        """Return a short multi-line description for `motorec sql --list`."""
        lines = [f"{self.name}: {self.description}"]
        lines += [f"    --param {p.usage()}  {p.description}".rstrip() for p in self.params]
        return "\n".join(lines)


def _article(type_name: str) -> str:
    return "an" if type_name[0] in "AEIOU" else "a"


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _parse_default(text: str, param: QueryParam) -> object:
    if text.upper() == "NULL":
        return None
    if text.startswith("'"):
        text = text[1:-1].replace("''", "'")
    return param.convert(text)


def parse_named_query(name: str, text: str) -> NamedQuery:
    """Parse a named query's header comments and check that its `$params` match the declared ones.

    Raises:
        ValueError: The header is malformed (a packaging bug, not a user mistake).
    """
    description, params, body_start = None, [], 0
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("--"):
            body_start = i
            break
        if re.match(r"^--\s*description:", stripped):
            description = stripped.split(":", 1)[1].strip()
        elif re.match(r"^--\s*param:", stripped):
            m = _PARAM_RE.match(stripped)
            if m is None or m["type"].upper() not in TYPES:
                raise ValueError(f"{name}.sql: cannot parse {stripped!r} (types: {', '.join(TYPES)})")
            param = QueryParam(m["name"], m["type"].upper(), None, m["default"] is None, m["desc"].strip())
            if not param.required:
                param = QueryParam(param.name, param.type, _parse_default(m["default"], param), False,
                                   param.description)
            params.append(param)
    else:
        body_start = len(lines)
    if not description:
        raise ValueError(f"{name}.sql: missing '-- description:' header line")
    body = "\n".join(lines[body_start:])
    if not body.strip():
        raise ValueError(f"{name}.sql: no SQL after the header")
    code = "\n".join(line.split("--", 1)[0] for line in lines[body_start:])  # ignore comments
    used, declared = set(_DOLLAR_RE.findall(code)), [p.name for p in params]
    if len(set(declared)) != len(declared) or used != set(declared):
        raise ValueError(f"{name}.sql: parameters used {sorted(used)} differ from declared {declared}")
    return NamedQuery(name, description, tuple(params), body)


@lru_cache(maxsize=1)
def _registry() -> dict[str, NamedQuery]:
    folder = resources.files("motorec.sql")
    queries = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            name = entry.name[: -len(".sql")]
            queries[name] = parse_named_query(name, entry.read_text(encoding="utf-8"))
    return dict(sorted(queries.items()))


def list_queries() -> list[NamedQuery]:
    """Return every named query shipped with motorec, sorted by name."""
    return list(_registry().values())


def get_query(name: str) -> NamedQuery:
    """Return the named query `name`.

    Raises:
        InputError: No such query; the message lists the known names.
    """
    registry = _registry()
    if name not in registry:
        raise InputError(f"unknown query {name!r}; known queries: {', '.join(registry)}")
    return registry[name]


def bind_params(query: NamedQuery, params: Mapping[str, object] | None) -> dict[str, object]:
    """Check and convert user values, fill defaults, and return the `$name -> value` dict to bind.

    Raises:
        InputError: An unknown parameter, a missing required one, or a value of the wrong type.
    """
    params = dict(params or {})
    for key in params:
        query.param(key)  # raises on an unknown name
    bound = {}
    for p in query.params:
        value = params.get(p.name)
        if value is None:
            if p.required:
                raise InputError(
                    f"query {query.name} needs parameter {p.name} ({p.description}): "
                    f"--param {p.name}=VALUE")
            bound[p.name] = p.default
            continue
        try:
            bound[p.name] = p.convert(value)
        except InputError as exc:
            raise InputError(f"query {query.name}: {exc}") from None
    return bound


def run_query(
    con: duckdb.DuckDBPyConnection, name: str, params: Mapping[str, object] | None = None
) -> pa.Table:
    """Run the named query `name` with `params` (CLI strings or typed values) bound by DuckDB.

    Args:
        con: A connection to a store database (`connect_readonly`) or any database with its schema.
        name: A name from `list_queries()`.
        params: Parameter values by name; missing optional ones take their defaults.

    Returns:
        The query's result as a pyarrow Table.

    Raises:
        InputError: Unknown query or parameter, missing or ill-typed value, or a DuckDB error.
    """
    query = get_query(name)
    return execute(con, query.sql, bind_params(query, params) or None)


def parse_param_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Turn CLI `key=value` strings into a dict (the value may itself contain `=`).

    Raises:
        InputError: A pair has no `=` or an empty key, or a key is given twice.
    """
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--param expects key=value, got {pair!r}")
        if key in out:
            raise InputError(f"--param {key} given twice")
        out[key] = value
    return out
