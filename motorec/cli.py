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


@app.command()
@clean_errors
def split(
    interactions: Annotated[Path, typer.Argument(help="Interactions Parquet (user_id, item_id, ...).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for train/valid/test Parquet parts.")],
    cold_items: Annotated[float, typer.Option(help="Share of items held out entirely (strict cold).")] = 0.2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Split interactions: train, warm valid/test, and strict-cold valid/test (ColdRec protocol)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from motorec.atomic import atomic_path
    from motorec.recommender.split import strict_cold_split, write_split

    try:
        table = pq.read_table(interactions)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {interactions}: {exc}") from exc
    parts = write_split(strict_cold_split(table, cold_fraction=cold_items, seed=seed), out)
    # warm and cold held-out parts together: what `train --valid` and `evaluate` take for the "all" setting
    for name in ("valid", "test"):
        merged = pa.concat_tables([pq.read_table(parts[f"warm_{name}"]), pq.read_table(parts[f"cold_{name}"])])
        parts[name] = out / f"{name}.parquet"
        with atomic_path(parts[name]) as tmp:
            pq.write_table(merged, tmp)
    for name, path in parts.items():
        typer.echo(f"{name:<12} {pq.read_metadata(path).num_rows:>8} rows  {path}")


@app.command()
@clean_errors
def train(
    interactions: Annotated[Path, typer.Argument(help="Training interactions Parquet (user_id, item_id).")],
    valid: Annotated[Path | None, typer.Option(help="Validation interactions for early stopping.")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Train the graph recommender on the store's current codes; saves a checkpoint in the store."""
    from motorec.config import load_config
    from motorec.recommender.service import train as run

    cfg = load_config(config, recommender={"device": device} if device else {})
    s = run(interactions, store, cfg, valid=valid, progress=progress)
    typer.echo(f"run {s.run_id}: trained on {s.interactions} interactions of {s.users} users over {s.items} items "
               f"({s.unknown_items} interactions named items without codes and were left out); best epoch "
               f"{s.best_epoch}, valid Recall@20 {s.best_valid:.4f}, {s.seconds_per_epoch:.2f}s/epoch; "
               f"checkpoint {s.checkpoint}")


@app.command()
@clean_errors
def recommend(
    out: Annotated[Path, typer.Option("--out", help="Output Parquet (user_id, item_id, rank, score).")],
    users: Annotated[Path | None, typer.Option(help="Parquet with a user_id column.")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", help="A user id (repeatable).")] = None,
    k: Annotated[int, typer.Option(help="Items per user.")] = 20,
    candidates: Annotated[Path | None, typer.Option(help="Parquet with the item_ids to rank among.")] = None,
    include_seen: Annotated[bool, typer.Option(help="Keep items the user interacted with.")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Top-k items per user over every item with codes, brand-new items included."""
    import pyarrow.parquet as pq

    from motorec.atomic import atomic_path
    from motorec.config import load_config
    from motorec.recommender.service import recommend as run

    if (users is None) == (not user):
        raise typer.BadParameter("give --users USERS.parquet or one or more --user ID")
    ids = pq.read_table(users, columns=["user_id"]).column("user_id").to_pylist() if users else _ids(user)
    table = run(store, ids, k=k, candidates=candidates, include_seen=include_seen, config=load_config(config))
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    typer.echo(f"wrote {table.num_rows} recommendations for {len(set(ids))} users to {out}")


def _ids(values: list[str]) -> list:
    """CLI ids are strings; integer-looking ones are passed as integers (cast to the store's type later)."""
    return [int(v) if v.lstrip("-").isdigit() else v for v in values]


@app.command()
@clean_errors
def evaluate(
    test: Annotated[Path, typer.Argument(help="Held-out interactions Parquet (user_id, item_id).")],
    store: StoreOpt = None,
    candidates: Annotated[Path | None, typer.Option(help="Parquet with the item_ids to rank among.")] = None,
    k: Annotated[str, typer.Option(help="Cut-offs, comma separated.")] = "10,20",
    json_: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Recall and NDCG at K by full ranking, overall and per item-degree bucket (cold, long-tail, warm)."""
    from motorec.config import load_config
    from motorec.recommender.service import evaluate as run
    from motorec.sql import format_table

    try:
        ks = tuple(int(x) for x in k.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {k!r}", param_hint="--k") from None
    table = run(test, store, ks=ks, candidates=candidates, config=load_config(config))
    typer.echo(format_table(table, "json" if json_ else "table"))


@app.command()
@clean_errors
def report(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    store: StoreOpt = None,
) -> None:
    """Write one self-contained HTML report: codebook health, churn, cold-start quality, code map."""
    from motorec.pipeline.store import resolve_store
    from motorec.report import build_report

    path = build_report(resolve_store(store), out)
    typer.echo(f"wrote {path}")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
