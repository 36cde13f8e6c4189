"""SQL over the store: named queries (`motorec/sql/*.sql`), ad-hoc read-only SQL and the code views."""

from motorec.sql.queries import (
    NamedQuery,
    QueryParam,
    connect_readonly,
    format_table,
    get_query,
    list_queries,
    parse_param_pairs,
    run_query,
    run_sql,
)
from motorec.sql.surface import create_code_views, ensure_schema

__all__ = [
    "NamedQuery",
    "QueryParam",
    "connect_readonly",
    "create_code_views",
    "ensure_schema",
    "format_table",
    "get_query",
    "list_queries",
    "parse_param_pairs",
    "run_query",
    "run_sql",
]
