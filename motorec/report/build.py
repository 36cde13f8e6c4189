"""`build_report`: one self-contained HTML file describing a store's codes, versions and quality.

The store is opened read-only (`motorec.sql.connect_readonly`) and tokenizer artifacts are only read,
so building a report never changes the store. Figures are PNG data URIs and the style sheet is inline:
the file loads nothing from anywhere. It is written atomically.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import os
from pathlib import Path

from motorec.atomic import atomic_write_text
from motorec.errors import ArtifactError, MotorecError
from motorec.report import data, plots
from motorec.report.projection import project

log = logging.getLogger(__name__)

SECTIONS = (
    ("overview", "Overview"),
    ("code-usage", "Code usage per level"),
    ("version-health", "Perplexity and collision rate per tokenizer version"),
    ("churn", "Churn between tokenizer versions"),
    ("quality", "Quality by item-degree bucket"),
    ("projection", "Item code embeddings (2-D projection)"),
)

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 16px 28px 48px; color: #1d232a; background: #fff; line-height: 1.4; }
h1 { margin: 8px 0 2px; font-size: 26px; } h2 { margin-top: 34px; border-bottom: 2px solid #dde3ea;
       padding-bottom: 4px; font-size: 20px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.sub { color: #5b6670; margin: 0 0 12px; font-size: 13px; }
nav { font-size: 13px; margin: 8px 0 0; } nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #dde3ea; border-radius: 6px; padding: 8px 14px; min-width: 110px; background: #f7f9fb; }
.card b { display: block; font-size: 22px; } .card span { color: #5b6670; font-size: 12px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 10px; }
th, td { border: 1px solid #dde3ea; padding: 3px 8px; text-align: right; }
th { background: #eef2f6; } td.l, th.l { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: 6px 0; }
.row { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px; font-size: 13.5px; }
code { background: #eef2f6; padding: 0 3px; border-radius: 3px; font-size: 12.5px; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _table(rows: list[dict], columns: list[tuple[str, str]], left: tuple[str, ...] = ()) -> str:
    head = "".join(f'<th class="{"l" if key in left else ""}">{_e(title)}</th>' for key, title in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"l" if key in left else ""}">{_e(_fmt(r.get(key)))}</td>'
                         for key, _ in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def _note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def _section(anchor: str, body: str) -> str:
    title = dict(SECTIONS)[anchor]
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _run_summary(counts: dict) -> str:
    parts = [f"{k} {v}" for k, v in counts.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seconds"]
    for m, r in (counts.get("modalities") or {}).items():
        if isinstance(r, dict) and r.get("version"):
            parts.append(f"{m}: {'new ' if r.get('created') else ''}version {str(r['version'])[:8]}")
    text = ", ".join(parts) if parts else json.dumps(counts, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def overview_section(ov: dict) -> str:
    cards = [("items", ov["items"]), ("modalities", len(ov["modalities"])),
             ("tokenizer versions", ov["versions"]), ("interactions", ov["interactions"]),
             ("errors", ov["errors"]), ("evaluation rows", ov["evaluations"])]
    body = '<div class="cards">' + "".join(
        f"<div class=\"card\"><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in cards) + "</div>"
    body += "<h3>Current tokenizer versions</h3>" + _table(
        ov["current"],
        [("modality", "modality"), ("version", "version"), ("levels", "levels"), ("codebook_size", "K"),
         ("items_coded", "items coded"), ("versions", "versions stored"), ("created_at", "created"),
         ("parent_version", "parent")],
        left=("modality", "version", "created_at", "parent_version"))
    runs = [{**r, "summary": _run_summary(r["counts"])} for r in ov["runs"]]
    body += "<h3>Last runs</h3>" + _table(
        runs,
        [("run_id", "run"), ("command", "command"), ("status", "status"), ("started_at", "started"),
         ("seconds", "seconds"), ("summary", "counts")],
        left=("command", "status", "started_at", "summary"))
    return _section("overview", body)


def code_usage_section(usage: dict[str, dict]) -> str:
    parts = []
    for modality, entry in sorted(usage.items()):
        parts.append(f"<h3>{_e(modality)} (current version <code>{_e(entry['version'])}</code>)</h3>")
        parts.append('<div class="row">' + _table(
            entry["levels"],
            [("level", "level"), ("items", "items"), ("codes_used", "codes used"), ("codebook_size", "K"),
             ("share_used", "share used"), ("dead_codes", "dead codes"), ("perplexity", "perplexity")])
            + _img(plots.code_count_histogram(modality, entry["levels"], entry["counts"]),
                   f"{modality}: histogram of items per code") + "</div>")
        parts.append(_img(plots.code_usage_figure(modality, entry["levels"], entry["counts"]),
                          f"{modality}: items per code value, per level"))
    if not parts:
        parts.append(_note("No item has codes yet."))
    return _section("code-usage", "\n".join(parts))


def version_health_section(health: dict[str, list[dict]]) -> str:
    parts = ['<p class="sub">Perplexity of each level\'s code distribution over the catalog (K when '
             "every code is used equally) and the share of items whose full code tuple collides with "
             "another item's (before suffixes). * marks the current version.</p>"]
    for modality, versions in sorted(health.items()):
        parts.append(f"<h3>{_e(modality)}</h3>")
        parts.append(_img(plots.health_figure(modality, versions), f"{modality}: perplexity and collisions"))
        rows = [{**v, "ppl": " / ".join(f"{p:.1f}" for p in v["perplexity"]) or "-",
                 "current": "yes" if v["is_current"] else ""} for v in versions]
        parts.append(_table(
            rows,
            [("version", "version"), ("current", "current"), ("created_at", "created"), ("method", "method"),
             ("levels", "levels"), ("codebook_size", "K"), ("items", "items"), ("ppl", "perplexity per level"),
             ("collision_rate", "collision rate"), ("mse", "fit MSE")],
            left=("version", "current", "created_at", "method", "ppl")))
    return _section("version-health", "\n".join(parts))


def churn_section(pairs: list[dict]) -> str:
    if not pairs:
        return _section("churn", _note(
            "Only one tokenizer version per modality so far: there is no churn to show. Retraining "
            "(<code>motorec tokenize --retrain</code>) adds a version and its churn against the previous one."))
    rows = [{"pair": f"{p['modality']}: {p['old']} -> {p['new']}", **r} for p in pairs for r in p["levels"]]
    body = ('<p class="sub">Items coded in both versions; <i>changed</i>: the code at this level differs; '
            "<i>prefix unchanged</i>: all codes up to this level are the same.</p>")
    body += _img(plots.churn_figure(pairs), "churn between versions")
    body += _table(rows, [("pair", "versions"), ("level", "level"), ("items", "items"), ("changed", "changed"),
                          ("share_changed", "share changed"), ("share_same_prefix", "prefix unchanged")],
                   left=("pair",))
    return _section("churn", body)


def quality_section(rows: list[dict]) -> str:
    if not rows:
        return _section("quality", _note(
            "No evaluation has been run yet: the evaluations table is empty. Train a recommender "
            "(<code>motorec train</code>) and run <code>motorec evaluate TEST.parquet</code> to see recall and "
            "NDCG for warm, long-tail and cold items next to the baselines."))
    combos = sorted({(r["metric"], r["k"]) for r in rows}, key=lambda mk: (mk[0] != "recall", mk[0], -mk[1]))
    parts = ['<p class="sub">Latest stored value of each metric; buckets by training degree: '
             f"warm (&ge; {data.TAU} interactions), long-tail (1-{data.TAU - 1}), cold (none).</p>"]
    for metric, k in combos[:2]:
        parts.append(_img(plots.quality_figure(rows, metric, k), f"{metric}@{k} by bucket"))
    pivot: dict[tuple, dict] = {}
    for r in rows:
        key = (r["model"], r["setting"])
        pivot.setdefault(key, {"model": r["model"], "setting": r["setting"]})[f"{r['metric']}@{r['k']}"] = r["value"]
    cols = sorted({f"{m}@{k}" for m, k in combos})
    table_rows = sorted(pivot.values(), key=lambda r: (r["model"] != "motorec", r["model"],
                                                       data.setting_key(r["setting"])))
    parts.append(_table(table_rows, [("model", "model"), ("setting", "bucket")] + [(c, c) for c in cols],
                        left=("model", "setting")))
    return _section("quality", "\n".join(parts))


def projection_section(store_dir: Path, con, current: list[dict]) -> str:
    parts = ['<p class="sub">Each item\'s quantised vector is rebuilt from its codes (the sum of its codebook '
             "entries over the levels) and projected on two principal components; colour is the item's "
             "number of training interactions.</p>"]
    for v in current:
        modality, version = v["modality"], v["version"]
        cd = data.current_codes_with_degree(con, modality, version)
        if len(cd["codes"]) == 0:
            continue
        try:
            proj = project(store_dir, modality, version, cd["codes"], cd["degree"])
        except (ArtifactError, MotorecError, OSError) as exc:
            parts.append(_note(f"{_e(modality)}: cannot load tokenizer {_e(version)}: {_e(exc)}"))
            continue
        parts.append(f"<h3>{_e(modality)}</h3>")
        parts.append(_img(plots.projection_figure(modality, version, proj), f"{modality}: 2-D projection"))
        if not (cd["degree"] > 0).any():
            parts.append(_note("No interactions are stored yet (<code>motorec train</code> imports them), so "
                               "every item counts as cold."))
    return _section("projection", "\n".join(parts))


def render(store_dir: Path) -> str:
    """Read the store and return the report's HTML text."""
    con = data.open_store(store_dir)
    try:
        ov = data.overview(con)
        sections = [
            overview_section(ov),
            code_usage_section(data.code_usage(con)),
            version_health_section(data.version_health(con)),
            churn_section(data.churn(con)),
            quality_section(data.evaluations(con)),
            projection_section(store_dir, con, ov["current"]),
        ]
    finally:
        con.close()
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in SECTIONS)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>MoToRec report: {_e(store_dir.name)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>MoToRec report</h1><p class=\"sub\">store <code>{_e(store_dir)}</code>, generated {_e(stamp)}</p>"
        f"<nav>{nav}</nav>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def build_report(store_dir: str | Path, out_path: str | Path) -> Path:
    """Write a self-contained HTML report of a store and return its path.

    Args:
        store_dir: The store directory (holding motorec.duckdb); opened read-only.
        out_path: Where to write the HTML file (written atomically; parent folders are created).

    Returns:
        The path of the written report.

    Raises:
        InputError: The store is missing, not a store, or empty (no tokenizer version yet).
        StoreError: The store database is held by a running job.
    """
    store = Path(store_dir).expanduser().absolute()
    out = Path(out_path).expanduser()
    text = render(store)
    atomic_write_text(out, text)
    umask = os.umask(0)  # the temporary file was private (0600); give the report the usual mode
    os.umask(umask)
    os.chmod(out, 0o666 & ~umask)
    log.info("wrote report %s (%d bytes)", out, len(text))
    return out
