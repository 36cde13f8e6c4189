"""The `motorec` command line: parse, call one library function, print a summary or `Error: ...`.

Every command exits 0 on success and 1 with a one-line `Error: ...` on bad input (the project's own
exceptions); a traceback means a bug.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from motorec.errors import MotorecError

app = typer.Typer(help="MoToRec: semantic codes for catalog items and a cold-start recommender.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Store directory (default $MOTOREC_STORE or "
                                                                "./motorec-store).", show_default=False)]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="motorec.toml with [tokenizer], [pipeline], "
                                                                  "[recommender], [store] sections.")]


def clean_errors(fn):
    """Turn the project's exceptions into `Error: ...` and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MotorecError as exc:
            typer.echo(f"Error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Error: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("sentence_transformers", "transformers", "open_clip", "faiss", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)


@app.command()
@clean_errors
def tokenize(
    catalog: Annotated[Path, typer.Argument(help="Catalog Parquet file (item_id, title, description, image...).")],
    store: StoreOpt = None,
    config: ConfigOpt = None,
    retrain: Annotated[bool, typer.Option(help="Fit a new tokenizer version and re-encode every item.")] = False,
    engine: Annotated[str, typer.Option(help="local or ray.")] = "local",
    device: Annotated[str | None, typer.Option(help="cpu or cuda (embedders and tokenizer).")] = None,
    image_root: Annotated[Path | None, typer.Option(help="Folder relative image paths resolve in.")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Retry items that failed in earlier runs.")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for another run holding the store.")] = 0.0,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (with --engine ray).")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Embed a catalog, assign codes to new or changed items, and store them (versioned)."""
    from motorec.config import load_config
    from motorec.pipeline.report_text import format_tokenize_summary

    _quiet_libraries()
    if engine not in ("local", "ray"):
        raise typer.BadParameter("must be 'local' or 'ray'", param_hint="--engine")
    overrides: dict = {}
    if device:
        overrides = {"pipeline": {"device": device}, "tokenizer": {"device": device}}
    if image_root:
        overrides.setdefault("pipeline", {})["image_root"] = str(image_root)
    cfg = load_config(config, **overrides)
    if engine == "ray":
        from motorec.pipeline.engines.ray_engine import tokenize_ray

        summary = tokenize_ray(catalog, store, cfg, retrain=retrain, retry_failed=retry_failed, wait_s=wait,
                               progress=progress, address=ray_address)
    else:
        from motorec.pipeline.job import tokenize as run

        summary = run(catalog, store, cfg, retrain=retrain, retry_failed=retry_failed, wait_s=wait, progress=progress)
    typer.echo(format_tokenize_summary(summary))


@app.command()
@clean_errors
def sql(
    query: Annotated[str | None, typer.Argument(help="An ad-hoc SELECT over the store's views.")] = None,
    name: Annotated[str | None, typer.Option("--query", "-q", help="Run a named query (see --list).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value for a named query.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the named queries and their parameters.")] = False,
    store: StoreOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Query the store read-only: ad-hoc SQL or a named query with bound parameters."""
    from motorec.pipeline.store import DB_NAME, resolve_store
    from motorec.sql import connect_readonly, format_table, list_queries, parse_param_pairs, run_query, run_sql

    if list_:
        for q in list_queries():
            typer.echo(q.help_text())
        return
    if (query is None) == (name is None):
        raise typer.BadParameter("give either a SQL string or --query NAME (or --list)")
    con = connect_readonly(resolve_store(store) / DB_NAME)
    try:
        table = run_sql(con, query) if query is not None else run_query(con, name, parse_param_pairs(param or []))
    finally:
        con.close()
    typer.echo(format_table(table, fmt))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
