"""Nothing stays behind: what a push or a pull killed with SIGKILL leaves is reported by fsck
and removed by gc (a push's) or the next pull (a pull's), never while its owner still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from loopml.blobs.export import STAGING_PREFIX
from loopml.blobs.fsck import fsck
from loopml.blobs.gc import gc
from loopml.blobs.packs import BLOCK_SIZE, BUFFERS
from loopml.sdk import Client

# Stops in the progress callback after the first file, once its bytes sit in a temporary
# pack (a push) or a staging folder (a pull), and says so through a marker file.
_STOPPER = """
import sys, threading
from pathlib import Path
from loopml.core.settings import load_settings
from loopml.sdk import Client

action, source, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])
stop = threading.Event()

def progress(_n):
    marker.write_text("stopped")
    stop.wait()

client = Client(load_settings())
if action == "push":
    client.datasets.push("big", source, progress=progress)
else:
    client.datasets.pull("big", source, progress=progress)
"""


def _await(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _stopped(
    env: dict[str, str], action: str, source: Path, tmp_path: Path
) -> subprocess.Popen[str]:
    marker = tmp_path / f"{action}.marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", _STOPPER, action, str(source), str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _await(lambda: marker.exists() or proc.poll() is not None, f"the {action} to stop")
    except BaseException:
        proc.kill()
        raise
    assert proc.poll() is None, proc.communicate()
    return proc


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout:
        proc.stdout.close()
    if proc.stderr:
        proc.stderr.close()


def _two_files(tmp_path: Path) -> Path:
    """Two files of more than a pack writer's ring of write blocks each: once the first is
    sent, the writer has waited for its first block to reach the temporary pack to reuse it."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.bin", "b.bin"):
        (src / name).write_bytes(os.urandom(BUFFERS * BLOCK_SIZE + 1_000_000))
    return src


def _age(path: Path, seconds: float = 7200) -> None:
    past = time.time() - seconds
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            os.utime(os.path.join(dirpath, name), (past, past))
        os.utime(dirpath, (past, past))
    if path.is_file():
        os.utime(path, (past, past))


def test_a_killed_push_leaves_temp_packs_that_fsck_reports_and_gc_removes(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    staging = client.stores.blobs.backend.staging_dir()
    proc = _stopped(env, "push", _two_files(tmp_path), tmp_path)
    _kill(proc)
    left = list(staging.iterdir())  # a partly written pack, the push's own temporary folder
    assert sum(p.stat().st_size for p in left if p.name.startswith("pack-")) >= 2_000_000
    report = fsck(client.stores.blobs)
    assert report.ok and report.leftover_files == len(left)
    assert report.leftover_bytes >= 2_000_000
    # younger than the grace period: kept (it may be a running push of another store)
    assert gc(client.stores.blobs).leftovers_deleted == 0 and all(p.exists() for p in left)
    for p in left:
        _age(p)
    assert gc(client.stores.blobs, dry_run=True).leftovers_deleted == len(left)
    assert all(p.exists() for p in left)
    done = gc(client.stores.blobs)
    assert done.leftovers_deleted == len(left) and done.bytes_freed >= 2_000_000
    assert list(staging.iterdir()) == []
    after = fsck(client.stores.blobs)
    assert (after.leftover_files, after.leftover_bytes) == (0, 0)


def test_gc_never_removes_the_temp_files_of_a_running_push(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    staging = client.stores.blobs.backend.staging_dir()
    proc = _stopped(env, "push", _two_files(tmp_path), tmp_path)
    result: list[object] = []
    waiting = threading.Event()
    try:
        left = list(staging.iterdir())
        for p in left:
            _age(p)  # old enough for gc, but its push is alive and holds the lock shared
        worker = threading.Thread(
            target=lambda: result.append(gc(client.stores.blobs, grace_s=0, on_wait=waiting.set))
        )
        worker.start()
        _await(waiting.is_set, "gc to wait for the running push")
        assert left and all(p.exists() for p in left)
    finally:
        _kill(proc)
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert list(staging.iterdir()) == []  # once its push is dead, gc takes them


def test_a_killed_folder_pull_leaves_a_staging_folder_the_next_pull_removes(
    client: Client, env: dict[str, str], tmp_path: Path
) -> None:
    client.datasets.push("big", _two_files(tmp_path))
    dest_parent = tmp_path / "restore"
    dest_parent.mkdir()
    proc = _stopped(env, "pull", dest_parent / "first", tmp_path)
    try:
        stale = [p for p in dest_parent.iterdir() if p.name.startswith(STAGING_PREFIX)]
        assert len(stale) == 1
        _age(stale[0])
        # its pull still runs (and holds the lock): another pull beside it leaves it alone
        client.datasets.pull("big", dest_parent / "second")
        assert stale[0].exists()
    finally:
        _kill(proc)
    assert not (dest_parent / "first").exists()
    fresh = dest_parent / f"{STAGING_PREFIX}fresh"
    fresh.mkdir()  # unlocked but young: it may be a pull that has not locked it yet
    other = dest_parent / ".loopml-other"
    other.mkdir()
    _age(other)
    client.datasets.pull("big", dest_parent / "third")
    assert not stale[0].exists()
    assert fresh.exists() and other.exists()
    assert sorted(p.name for p in dest_parent.iterdir()) == sorted(
        [fresh.name, other.name, "second", "third"]
    )
