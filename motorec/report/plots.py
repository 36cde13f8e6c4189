"""The report's figures, drawn with matplotlib's Agg backend and embedded as base64 PNG data URIs."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from motorec.report.data import TAU, setting_key
from motorec.report.projection import Projection, buckets

BUCKET_STYLE = {  # label, colour
    "cold": ("cold (0 interactions)", "#d62728"),
    "long_tail": (f"long-tail (1-{TAU - 1})", "#ff7f0e"),
    "warm": (f"warm (>= {TAU})", "#1f77b4"),
}
LEVEL_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _figure(width: float, height: float) -> Figure:
    # no pyplot: figures are never registered globally, so nothing leaks and no GUI backend is touched
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_data_uri(fig: Figure) -> str:
    """Render a figure to PNG and return it as a `data:image/png;base64,...` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def code_usage_figure(modality: str, levels: list[dict], counts: dict[int, np.ndarray]) -> str:
    """One panel per level: items per code value (dead codes marked in red below the axis)."""
    n = max(len(levels), 1)
    fig = _figure(11, 2.3 * n)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, levels, strict=False):
        c = counts[row["level"]][: row["codebook_size"]]
        x = np.arange(len(c))
        ax.bar(x, c, width=1.0, color=LEVEL_COLOURS[(row["level"] - 1) % len(LEVEL_COLOURS)], linewidth=0)
        dead = np.flatnonzero(c == 0)
        if len(dead):
            ax.plot(dead, np.zeros(len(dead)), "|", color="#d62728", markersize=8, label="dead code")
            ax.legend(loc="upper right", fontsize=8)
        ppl = row["perplexity"]
        ax.set_title(
            f"{modality} level {row['level']}: {row['codes_used']}/{row['codebook_size']} codes used, "
            f"{row['dead_codes']} dead, perplexity {ppl if ppl is not None else float('nan'):.1f}",
            fontsize=10, loc="left",
        )
        ax.set_xlim(-0.5, len(c) - 0.5)
        ax.set_ylabel("items")
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xlabel("code value")
    return to_data_uri(fig)


def code_count_histogram(modality: str, levels: list[dict], counts: dict[int, np.ndarray]) -> str:
    """Distribution of items per code (how many codes hold 0, 1, 2, ... items), one line per level."""
    fig = _figure(5.5, 3.2)
    ax = fig.subplots()
    top = max((int(counts[r["level"]].max()) for r in levels), default=1)
    bins = np.arange(0, top + 2) if top < 40 else np.linspace(0, top + 1, 41)
    for r in levels:
        ax.hist(counts[r["level"]][: r["codebook_size"]], bins=bins, histtype="step", linewidth=1.6,
                color=LEVEL_COLOURS[(r["level"] - 1) % len(LEVEL_COLOURS)], label=f"level {r['level']}")
    ax.set_xlabel("items per code")
    ax.set_ylabel("codes")
    ax.set_title(f"{modality}: histogram of items per code", fontsize=10, loc="left")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)


def health_figure(modality: str, versions: list[dict]) -> str:
    """Perplexity per level (left) and collision rate (right) for each tokenizer version, oldest first."""
    fig = _figure(11, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    labels = [v["version"][:8] + (" *" if v["is_current"] else "") for v in versions]
    x = np.arange(len(versions))
    n_levels = max((len(v["perplexity"]) for v in versions), default=0)
    width = 0.8 / max(n_levels, 1)
    for lv in range(n_levels):
        vals = [v["perplexity"][lv] if lv < len(v["perplexity"]) else np.nan for v in versions]
        ax1.bar(x + (lv - (n_levels - 1) / 2) * width, vals, width=width,
                color=LEVEL_COLOURS[lv % len(LEVEL_COLOURS)], label=f"level {lv + 1}")
    k = max((v["codebook_size"] or 0 for v in versions), default=0)
    if k:
        ax1.axhline(k, color="grey", linestyle="--", linewidth=1, label=f"K = {k} (uniform use)")
    ax1.set_xticks(x, labels, fontsize=8)
    ax1.set_ylabel("perplexity")
    ax1.set_title(f"{modality}: code perplexity per level", fontsize=10, loc="left")
    ax1.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=n_levels + 1, frameon=False)
    ax1.grid(axis="y", alpha=0.3)
    rates = [v["collision_rate"] for v in versions]
    ax2.plot(x, rates, "o-", color="#d62728")
    for xi, r in zip(x, rates, strict=True):
        ax2.annotate(f"{r:.3f}", (xi, r), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax2.set_xticks(x, labels, fontsize=8)
    ax2.set_xlim(-0.5, len(versions) - 0.5)
    ax2.set_ylim(0, max(max(rates, default=0) * 1.3, 0.05))
    ax2.set_ylabel("collision rate")
    ax2.set_title(f"{modality}: items sharing a full code tuple", fontsize=10, loc="left")
    ax2.grid(alpha=0.3)
    return to_data_uri(fig)


def churn_figure(pairs: list[dict]) -> str:
    """Per version pair: share of items whose code changed, and share keeping their prefix, per level."""
    n = len(pairs)
    fig = _figure(11, 3.0 * n)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    for ax, p in zip(axes, pairs, strict=True):
        levels = [r["level"] for r in p["levels"]]
        x = np.arange(len(levels))
        changed = [r["share_changed"] for r in p["levels"]]
        kept = [r["share_same_prefix"] for r in p["levels"]]
        ax.bar(x - 0.2, changed, width=0.4, color="#d62728", label="code changed at this level")
        ax.bar(x + 0.2, kept, width=0.4, color="#2ca02c", label="prefix up to this level unchanged")
        for xi, a, b in zip(x, changed, kept, strict=True):
            ax.annotate(f"{a:.0%}", (xi - 0.2, a), textcoords="offset points", xytext=(0, 3), ha="center",
                        fontsize=8)
            ax.annotate(f"{b:.0%}", (xi + 0.2, b), textcoords="offset points", xytext=(0, 3), ha="center",
                        fontsize=8)
        ax.set_xticks(x, [f"level {lv}" for lv in levels])
        ax.set_ylim(0, 1.3)
        ax.set_ylabel("share of items")
        ax.set_title(f"{p['modality']}: {p['old'][:8]} -> {p['new'][:8]} over {p['items']} items",
                     fontsize=10, loc="left")
        ax.legend(fontsize=8, loc="upper center", ncols=2, frameon=False)
        ax.grid(axis="y", alpha=0.3)
    return to_data_uri(fig)


def quality_figure(rows: list[dict], metric: str, k: int) -> str:
    """Grouped bars: metric@k per item-degree bucket (setting), one bar per model."""
    sel = [r for r in rows if r["metric"] == metric and r["k"] == k]
    settings = sorted({r["setting"] for r in sel}, key=setting_key)
    models = sorted({r["model"] for r in sel}, key=lambda m: (m != "motorec", m))
    value = {(r["model"], r["setting"]): r["value"] for r in sel}
    fig = _figure(11, 3.0)
    ax = fig.subplots()
    x = np.arange(len(settings))
    width = 0.8 / max(len(models), 1)
    for i, m in enumerate(models):
        vals = [value.get((m, s), np.nan) for s in settings]
        xs = x + (i - (len(models) - 1) / 2) * width
        ax.bar(xs, vals, width=width, label=m,
               color=LEVEL_COLOURS[i % len(LEVEL_COLOURS)], edgecolor="black" if m == "motorec" else None)
        for xi, v in zip(xs, vals, strict=True):
            if np.isfinite(v):  # label every bar, so a zero is seen as a zero and not as a missing value
                ax.annotate(f"{v:.3f}", (xi, v), textcoords="offset points", xytext=(0, 2), ha="center",
                            fontsize=7)
    ax.set_xticks(x, [s.replace("_", "-") for s in settings])
    ax.set_ylabel(f"{metric}@{k}")
    ax.margins(y=0.15)
    ax.set_title(f"{metric}@{k} by item-degree bucket", fontsize=10, loc="left")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return to_data_uri(fig)


def projection_figure(modality: str, version: str, proj: Projection) -> str:
    """Scatter of the 2-D projection, cold items drawn last so they stay visible."""
    fig = _figure(7.5, 6.0)
    ax = fig.subplots()
    masks = buckets(proj.degree)
    size = 12 if len(proj.points) < 3000 else 5
    for name in ("warm", "long_tail", "cold"):
        m = masks[name]
        if m.any():
            label, colour = BUCKET_STYLE[name]
            ax.scatter(proj.points[m, 0], proj.points[m, 1], s=size, c=colour, alpha=0.6, linewidths=0,
                       label=f"{label}: {int(m.sum())}")
    ax.set_xlabel(f"PC1 ({proj.explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({proj.explained[1]:.0%} of variance)")
    shown = len(proj.points)
    note = f", {shown} of {proj.total_items} shown" if shown < proj.total_items else ""
    ax.set_title(f"{modality} {version[:8]}: quantised item vectors from codes{note}", fontsize=10, loc="left")
    ax.legend(fontsize=8, markerscale=2)
    ax.grid(alpha=0.3)
    return to_data_uri(fig)
