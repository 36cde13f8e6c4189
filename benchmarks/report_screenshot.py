"""Render a `motorec report` in headless Chromium and save a screenshot, to check it as a person sees it.

    python benchmarks/report_screenshot.py --store ./motorec-store --out-dir /tmp/report_shot
    python benchmarks/report_screenshot.py --html report.html --out-dir /tmp/report_shot
    python benchmarks/report_screenshot.py --store S --interactions inter.parquet --out-dir D

`--interactions` copies the store to a scratch folder and loads the interactions (user_id, item_id) into
the copy, so the projection can colour warm and cold items before any `motorec train`; the store given
is never written. Prints the report and screenshot paths, timings and a few pixel statistics of the PNG.
Needs Chromium (Debian: `apt-get install chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for c in CHROMIUM_CANDIDATES:
        if Path(c).exists():
            return c
    return shutil.which("chromium")


def screenshot(
    html_path: Path, png_path: Path, width: int = 1280, height: int = 3000, timeout_s: float = 120.0
) -> Path:
    """Render `html_path` headless and write a `width` x `height` screenshot to `png_path`."""
    binary = find_chromium()
    if binary is None:
        raise RuntimeError("chromium not found (Debian: apt-get install chromium)")
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="motorec-chromium-") as profile:
        cmd = [
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--screenshot={png_path.absolute()}",
            f"--window-size={width},{height}",
            html_path.absolute().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if not png_path.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return png_path


def png_stats(png_path: Path) -> dict:
    """Size, share of non-white pixels and number of distinct colours of a screenshot."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(png_path)[..., :3]
    non_white = float((img.min(axis=2) < 0.97).mean())
    colours = len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3)[::7], axis=0))
    return {
        "height": img.shape[0],
        "width": img.shape[1],
        "non_white_share": round(non_white, 4),
        "distinct_colours_sampled": colours,
        "bytes": png_path.stat().st_size,
    }


def store_with_interactions(store: Path, interactions: Path, scratch: Path) -> Path:
    """Copy `store` into `scratch` and load `interactions` into the copy's t_interactions."""
    import duckdb
    import pyarrow.parquet as pq

    copy = scratch / "store"
    shutil.copytree(store, copy, ignore=shutil.ignore_patterns("lock"))
    t = pq.read_table(interactions, columns=["user_id", "item_id"])
    con = duckdb.connect(str(copy / "motorec.duckdb"))
    try:
        con.register("_inter", t)
        con.execute(
            "INSERT INTO t_interactions SELECT CAST(user_id AS VARCHAR), CAST(item_id AS VARCHAR), "
            "NULL, 1.0 FROM _inter"
        )
    finally:
        con.close()
    return copy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--store", type=Path, help="store to build the report from")
    src.add_argument("--html", type=Path, help="an existing report to render")
    ap.add_argument("--interactions", type=Path, help="Parquet of interactions loaded into a copy of the store")
    ap.add_argument("--out-dir", type=Path, default=Path("report_screenshot"))
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=3000)
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="motorec-report-") as scratch:
        html_path = args.html
        if args.store is not None:
            from motorec.report import build_report

            store = args.store
            if args.interactions is not None:
                store = store_with_interactions(store, args.interactions, Path(scratch))
            t0 = time.perf_counter()
            html_path = build_report(store, args.out_dir / "report.html")
            print(f"report: {html_path} ({html_path.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        png = screenshot(html_path, args.out_dir / "report.png", args.width, args.height)
    stats = png_stats(png)
    print(f"screenshot: {png} in {time.perf_counter() - t0:.1f}s")
    print(
        "| "
        + " | ".join(stats)
        + " |\n|"
        + "---|" * len(stats)
        + "\n| "
        + " | ".join(str(v) for v in stats.values())
        + " |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
