"""Where a run came from: code version (git) and environment, collected once per process."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from typing import Any

import blake3

_GIT_TIMEOUT_S = 10.0


@functools.cache
def _git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace").strip() if out.returncode == 0 else None


def _diff_digest(cwd: str) -> str | None:
    """BLAKE3 of ``git diff HEAD`` (tracked changes), streamed; None when there are none."""
    try:
        proc = subprocess.Popen(
            ["git", "diff", "HEAD", "--no-ext-diff", "--binary", "--no-color"],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    assert proc.stdout is not None
    h = blake3.blake3()
    size = 0
    for block in iter(lambda: proc.stdout.read(1 << 16), b""):  # type: ignore[union-attr]
        h.update(block)
        size += len(block)
    proc.stdout.close()
    if proc.wait(timeout=_GIT_TIMEOUT_S) != 0 or size == 0:
        return None
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def code_version(cwd: str) -> dict[str, Any]:
    """Git commit, branch, dirty flag and diff digest of the work tree holding ``cwd``;
    ``{}`` outside a git work tree. Cached: a process is assumed to run one code version."""
    head = _git(cwd, "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD")
    if head is None:
        return {}
    lines = head.splitlines()
    if len(lines) != 3:
        return {}
    root, commit, branch = lines
    digest = _diff_digest(cwd)
    return {
        "repository": root,
        "commit": commit,
        "branch": None if branch == "HEAD" else branch,
        "dirty": digest is not None,
        "diff_digest": digest,
        "entrypoint": sys.argv[0] if sys.argv and sys.argv[0] else None,
    }


def _from_dist_info(entry: str) -> dict[str, str]:
    """Name → version of the distributions in one ``sys.path`` folder, read from the names of
    their ``*.dist-info`` folders (``name-version.dist-info``) without parsing any metadata."""
    found: dict[str, str] = {}
    try:
        names = os.listdir(entry or ".")
    except OSError:
        return found
    for n in names:
        if n.endswith(".dist-info"):
            name, sep, version = n[: -len(".dist-info")].partition("-")
            if sep and version:
                found.setdefault(name.replace("_", "-").lower(), version)
        elif n.endswith(".egg-info"):
            found.setdefault(n[: -len(".egg-info")].split("-")[0].replace("_", "-").lower(), "")
    return found


@functools.cache
def installed_packages() -> dict[str, str]:
    """Name → version of every installed distribution (cached per process)."""
    packages: dict[str, str] = {}
    for entry in sys.path:
        for name, version in _from_dist_info(entry).items():
            packages.setdefault(name, version)
    missing = [n for n, v in packages.items() if not v]
    if missing:
        # Legacy egg-info folders do not carry the version in their name.
        from importlib import metadata

        for name in missing:
            try:
                packages[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                packages[name] = "unknown"
    return dict(sorted(packages.items()))


@functools.cache
@functools.cache
def environment() -> dict[str, Any]:
    """Python version, platform and installed packages of this process (cached)."""
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": installed_packages(),
    }
