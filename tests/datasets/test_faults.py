"""Concurrency and crash safety of pushes, with real processes."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopml.blobs.fsck import fsck
from loopml.sdk import Client
from tests.conftest import LOOPML_BIN, run_cli

PUSHER = """
import os, sys, tempfile, pathlib
import loopml
worker, count = int(sys.argv[1]), int(sys.argv[2])
d = pathlib.Path(tempfile.mkdtemp())
for j in range(count):
    f = d / "data.txt"
    f.write_text(f"worker {worker} push {j}\\n" * 50)
    r = loopml.push_dataset("shared", f)
    assert r.created, r
print("done", worker)
"""


@pytest.mark.slow
def test_concurrent_pushes_get_unique_gap_free_versions(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PUSHER, str(w), "25"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    try:
        results = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    versions = client.datasets.versions("shared")
    assert [v.version for v in versions] == list(range(1, 101))
    assert len({v.content_digest for v in versions}) == 100
    assert [v.parent_version for v in versions] == [None, *range(1, 100)]


def _make_data(root: Path, files: int, size: int, seed: int) -> Path:
    rng = random.Random(seed)
    root.mkdir()
    for i in range(files):
        (root / f"part-{i:03d}.bin").write_bytes(rng.randbytes(size))
    return root


@pytest.mark.slow
def test_push_killed_at_random_points_leaves_no_trace_and_rerun_completes(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    data = _make_data(tmp_path / "data", files=24, size=1_500_000, seed=1)
    # How long an uninterrupted push takes here (on a throwaway store) bounds the kill times.
    probe_env = {**env, "LOOPML_HOME": str(tmp_path / "probe"), "LOOPML_DB": "", "LOOPML_BLOBS": ""}
    probe_env = {k: v for k, v in probe_env.items() if v}
    started = time.perf_counter()
    assert run_cli(probe_env, "datasets", "push", "probe", str(data)).returncode == 0
    full = time.perf_counter() - started
    rng = random.Random(42)
    completed = False
    for attempt in range(8):
        proc = subprocess.Popen(
            [LOOPML_BIN, "datasets", "push", "crash", str(data), "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, full))  # the fault is the point in time; nothing to await
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.returncode == 0:
            completed = True
        names = {d.name: d for d in client.datasets.list()}
        if "crash" in names:
            # the version exists only if the push committed: then it must be whole
            version = client.datasets.show("crash")
            assert version.version == 1 and version.file_count == 24, attempt
            completed = True
        report = fsck(client.stores.blobs)
        assert report.ok, report.problems
    rerun = run_cli(env, "datasets", "push", "crash", str(data), "--json")
    assert rerun.returncode == 0, rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["version"] == 1 and out["created"] is not completed
    pulled = client.datasets.pull("crash@1", tmp_path / "back")
    for p in data.iterdir():
        assert (pulled / p.name).read_bytes() == p.read_bytes()
    assert fsck(client.stores.blobs).ok
