"""kill -9 a `motorec tokenize` subprocess at several points, rerun: the store ends as an uninterrupted run's.

Deterministic points use the test hook `MOTOREC_TEST_CRASH_AT` of `motorec.pipeline.job` (the process
SIGKILLs itself there); more kills come from outside (SIGKILL by pid) a moment after the run has taken
the store lock. To keep the test fast on small machines, one helper process imports motorec (and torch)
once and forks one child per killed run, each running the CLI's `tokenize` command on its own store;
the children start before any torch thread exists, and run in parallel.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from motorec.config import load_config
from motorec.errors import StoreError
from motorec.pipeline.job import CRASH_ENV, CRASH_POINTS, tokenize
from motorec.pipeline.lock import StoreLock
from motorec.pipeline.store import Store

pytestmark = pytest.mark.filterwarnings("ignore:codebook_size K=:UserWarning")

N, N_FIRST, DIM = 300, 270, 32
SMALL = {"method": "rqkmeans", "codebook_size": 4, "levels": 2}
CONFIG = """
[tokenizer]
method = "rqkmeans"  # the pipeline is under test here, not the RQ-VAE: fit in a fraction of a second
codebook_size = 8
levels = 2
latent_dim = 8
hidden_dims = [16]
max_steps = 20
[pipeline]
read_batch_rows = 64
"""


def _catalog(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)[:n]
    pq.write_table(pa.table({"item_id": [f"i{i:04d}" for i in range(n)], "title": [f"t{i}" for i in range(n)],
                             "feat_text": pa.array(vectors.tolist(), pa.list_(pa.float32()))}), path)
    return path


def dump(store: Path) -> dict:
    """Everything a run decides, without run ids and timestamps."""
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        q = {
            "codes": "SELECT item_id, modality, version, codes, suffix, sid FROM item_codes ORDER BY ALL",
            "versions": "SELECT version, modality, levels, codebook_size, config, is_current, parent_version "
                        "FROM tokenizer_versions ORDER BY ALL",
            "items": "SELECT item_id, title, content_hash FROM items ORDER BY ALL",
            "content": "SELECT * FROM t_item_content ORDER BY ALL",
            "embeddings": "SELECT encoder_id, content_hash, vector FROM t_embeddings ORDER BY ALL",
            "errors": "SELECT count(*) FROM errors",
        }
        out = {k: con.execute(sql).fetchall() for k, sql in q.items()}
    finally:
        con.close()
    out["current_codes.parquet"] = pq.read_table(store / "current_codes.parquet").to_pylist()
    out["files"] = sorted(str(p.relative_to(store)) for p in store.rglob("*")
                          if p.is_file() and p.name not in ("lock", "motorec.duckdb.wal"))
    out["file_bytes"] = {f: (store / f).read_bytes() for f in out["files"]
                         if f.startswith(("tokenizers/", "codes/")) and not f.endswith("stats.json")}
    out["stats"] = {f: {k: v for k, v in json.loads((store / f).read_text()).items() if k != "fit_seconds"}
                    for f in out["files"] if f.endswith("stats.json")}
    return out


def _runs(store: Path) -> list[tuple]:
    con = duckdb.connect(str(store / "motorec.duckdb"), read_only=True)
    try:
        return con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    except duckdb.CatalogException:  # killed while creating the database: no tables yet
        return []
    finally:
        con.close()


FORKER = """
import json, os, sys
import motorec.cli, motorec.pipeline.job, motorec.tokenizer  # imported once, before any torch thread starts
jobs = json.loads(sys.argv[1])
pids = {}
for name, job in jobs.items():
    pid = os.fork()
    if pid == 0:
        os.environ.pop(motorec.pipeline.job.CRASH_ENV, None)
        if job["crash_at"]:
            os.environ[motorec.pipeline.job.CRASH_ENV] = job["crash_at"]
        try:
            motorec.cli.app(["tokenize", *job["args"]], standalone_mode=False)
            code = 0
        except BaseException as exc:
            print(name, "raised", repr(exc), flush=True)
            code = 1
        os._exit(code)
    pids[pid] = name
    print("pid", name, pid, flush=True)
print("started", flush=True)
while pids:
    pid, status = os.wait()
    print("exit", pids.pop(pid), os.waitstatus_to_exitcode(status), flush=True)
"""


def _fork_runs(jobs: dict[str, dict]) -> tuple[subprocess.Popen, dict[str, int]]:
    """Start the helper; returns it (its stdout still to read) and each job's child pid."""
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    proc = subprocess.Popen([sys.executable, "-c", FORKER, json.dumps(jobs)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    pids = {}
    for line in proc.stdout:
        if line.startswith("started"):
            break
        if line.startswith("pid "):
            _, name, pid = line.split()
            pids[name] = int(pid)
    return proc, pids


def _kill_once_locked(pid: int, store: Path, delay_s: float, timeout_s: float = 180) -> None:
    """SIGKILL process `pid` `delay_s` after it has written its pid into the store lock (it holds the store)."""
    deadline = time.monotonic() + timeout_s
    lock = store / "lock"
    while time.monotonic() < deadline:
        try:
            if lock.read_text().strip() == str(pid):
                time.sleep(delay_s)
                break
        except OSError:
            pass
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):  # it may have finished already: the test holds either way
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory):
    """Reference stores from uninterrupted in-process runs, and the killed runs' stores (not yet rerun)."""
    folder = tmp_path_factory.mktemp("crash")
    config = folder / "motorec.toml"
    config.write_text(CONFIG)
    cfg = load_config(config)
    first, full = _catalog(folder / "first.parquet", N_FIRST), _catalog(folder / "full.parquet", N)
    ref_full = folder / "ref-full"
    tokenize(full, ref_full, cfg, progress=False)
    ref_incr = folder / "ref-incremental"
    tokenize(first, ref_incr, cfg, progress=False)
    base_incr = folder / "base-incremental"
    shutil.copytree(ref_incr, base_incr)  # after the first run only
    tokenize(full, ref_incr, cfg, progress=False)

    jobs, references = {}, {}
    for point in CRASH_POINTS:
        jobs[f"first-{point}"] = {"store": folder / f"first-{point}", "catalog": full, "crash_at": point}
        references[f"first-{point}"] = ref_full
    jobs["incremental-commit"] = {"store": folder / "incremental-commit", "catalog": full, "crash_at": "commit"}
    references["incremental-commit"] = ref_incr
    shutil.copytree(base_incr, folder / "incremental-commit")
    for delay in TIMED:
        jobs[f"timed-{delay}"] = {"store": folder / f"timed-{delay}", "catalog": full, "crash_at": None}
        references[f"timed-{delay}"] = ref_full
    proc, pids = _fork_runs({name: {"crash_at": job["crash_at"], "args": [
        str(job["catalog"]), "--store", str(job["store"]), "--config", str(config)]} for name, job in jobs.items()})
    for delay in TIMED:
        _kill_once_locked(pids[f"timed-{delay}"], jobs[f"timed-{delay}"]["store"], delay)
    out, _ = proc.communicate(timeout=600)
    codes = {line.split()[1]: int(line.split()[2]) for line in out.splitlines() if line.startswith("exit ")}
    assert set(codes) == set(jobs), out
    cases = {name: (job["store"], references[name], codes[name]) for name, job in jobs.items()}
    return cfg, full, cases


TIMED = (0.1, 1.0)
CASES = [f"first-{p}" for p in CRASH_POINTS] + ["incremental-commit"] + [f"timed-{d}" for d in TIMED]


@pytest.mark.parametrize("case", CASES)
def test_rerun_after_kill_equals_an_uninterrupted_run(crashed, case):
    cfg, catalog, cases = crashed
    store, reference, code = cases[case]
    if not case.startswith("timed"):  # the hook fired: killed by SIGKILL
        assert code == -signal.SIGKILL
    before = _runs(store) if (store / "motorec.duckdb").exists() else []
    # the kernel released the killed run's lock: a run may take the store at once
    StoreLock(store / "lock").acquire().release()
    s = tokenize(catalog, store, cfg, progress=False)
    runs = _runs(store)
    if code == -signal.SIGKILL and before and before[-1][1] == "running":
        assert runs[-2][1] == "aborted"  # the killed run shows as aborted
    assert runs[-1] == (s.run_id, "ok")
    if case.endswith("export"):
        assert (s.new, s.changed) == (0, 0)  # the killed run had committed; this one only redoes the exports
    elif case.endswith("commit"):
        assert s.new == N - (N_FIRST if case.startswith("incremental") else 0)  # its transaction was discarded
    assert dump(store) == dump(reference)


def test_killed_run_is_aborted_in_runs(crashed):
    _, _, cases = crashed
    store, _, _ = cases["first-fit"]
    # whether or not the rerun test ran first, the next open of the store records the killed run as aborted
    with Store.open(store) as st:
        assert st.con.execute("SELECT status FROM t_runs WHERE run_id = 1").fetchone()[0] == "aborted"


def test_a_second_concurrent_run_fails_clearly(tmp_path):
    """One process holds the store (as a run does); a second run fails at once with a clear StoreError and
    leaves it alone; after the holder is killed with SIGKILL, the kernel has released the lock."""
    catalog = _catalog(tmp_path / "c.parquet", 40)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from motorec.pipeline.lock import StoreLock; "
         f"StoreLock({str(tmp_path / 'store' / 'lock')!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        cfg = load_config(None, tokenizer=SMALL)
        with pytest.raises(StoreError, match=rf"in use by another motorec run \(pid {holder.pid}\)"):
            tokenize(catalog, tmp_path / "store", cfg, progress=False)
        assert not (tmp_path / "store" / "motorec.duckdb").exists()
        started = time.monotonic()
        with pytest.raises(StoreError):
            tokenize(catalog, tmp_path / "store", cfg, wait_s=0.5, progress=False)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    s = tokenize(catalog, tmp_path / "store", cfg, progress=False)
    assert s.new == 40


def test_wait_takes_the_store_once_it_is_free(tmp_path):
    import threading

    catalog = _catalog(tmp_path / "c.parquet", 40)
    lock = StoreLock(tmp_path / "store" / "lock").acquire()
    threading.Timer(0.5, lock.release).start()
    cfg = load_config(None, tokenizer=SMALL)
    assert tokenize(catalog, tmp_path / "store", cfg, wait_s=30, progress=False).new == 40
