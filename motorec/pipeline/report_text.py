"""Plain-text summaries of runs for the CLI."""

from __future__ import annotations


def _fmt_levels(values) -> str:
    return "/".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in values)


def format_tokenize_summary(summary) -> str:
    """The closing summary of `motorec tokenize`: counts, then one line per modality."""
    lines = [
        f"run {summary.run_id} on {summary.store}: {summary.seen} items seen, {summary.new} new, "
        f"{summary.changed} changed, {summary.unchanged} unchanged, {summary.failed} failed, "
        f"{summary.absent} absent from this catalog ({summary.seconds:.1f}s)"
    ]
    for m, r in summary.modalities.items():
        h = r.health or {}
        what = "new version" if r.created else "current version"
        line = (f"  {m}: {what} {r.version}, {r.encoded} items encoded")
        if h:
            line += (f"; fit health: utilisation {_fmt_levels(h.get('utilisation', []))}, perplexity "
                     f"{_fmt_levels([round(p, 1) for p in h.get('perplexity', [])])}, collisions "
                     f"{h.get('collision_rate', 0):.3f}, MSE {h.get('mse') or 0:.3f}")
        lines.append(line)
        if r.churn:
            c = r.churn
            lines.append(f"    churn vs {r.previous} over {c['items']} items: changed per level "
                         f"{_fmt_levels(c['changed_per_level'])}, prefix agreement "
                         f"{_fmt_levels(c['prefix_agreement'])}")
    for m, why in (getattr(summary, "skipped", None) or {}).items():
        lines.append(f"  {m}: skipped: {why}")
    stages = getattr(summary, "stage_seconds", None) or {}
    if stages:
        lines.append("  stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()))
    return "\n".join(lines)
