"""Render query results (pyarrow Tables) as an aligned text table, CSV or JSON for `motorec sql`."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import io
import json
import math

import pyarrow as pa

from motorec.errors import InputError

FORMATS = ("table", "csv", "json")
_MAX_LIST = 12  # table format: list items shown before "… +N"
_MAX_CELL = 80  # table format: characters shown per cell


def _cell(value: object, compact: bool) -> str:
    """Render one value as text; lists compactly (`[12, 201, 7]`), truncated in table format."""
    if value is None:
        return "NULL" if compact else ""
    if isinstance(value, list):
        shown = value[:_MAX_LIST] if compact else value
        inner = ", ".join(_cell(v, compact=False) if v is not None else "NULL" for v in shown)
        more = f", … +{len(value) - len(shown)}" if len(shown) < len(value) else ""
        return f"[{inner}{more}]"
    if isinstance(value, dict):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _json_value(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _text_table(table: pa.Table) -> str:
    names = table.column_names
    if not names:
        return "(no result)"
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        for t in table.schema.types
    ]
    rows = [
        [_clip(_cell(row[n], compact=True)) for n in names] for row in table.to_pylist()
    ]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    out.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(out)


def _clip(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def format_table(table: pa.Table, fmt: str = "table") -> str:
    """Render a query result for the terminal or for other programs.

    Args:
        table: The result, e.g. from `run_query` or `run_sql`.
        fmt: `table` (aligned columns, NULL shown, lists shown compactly and long cells cut, a row
            count last), `csv` (header row, empty cell for NULL, lists as `[1, 2]`) or `json` (a list
            of row objects, one per line; timestamps in ISO 8601).

    Returns:
        The rendered text, without a trailing newline.

    Raises:
        InputError: An unknown format.
    """
    if fmt == "table":
        return _text_table(table)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow([_cell(v, compact=False) for v in row.values()])
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        rows = [json.dumps(_json_value(row), ensure_ascii=False) for row in table.to_pylist()]
        return "[\n" + ",\n".join(rows) + "\n]" if rows else "[]"
    raise InputError(f"unknown output format {fmt!r}; choose one of: {', '.join(FORMATS)}")
