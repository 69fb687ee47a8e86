"""Polling a git repository on disk: the commit a branch points at, with ``git rev-parse``."""

from __future__ import annotations

import subprocess
from pathlib import Path

from loopml.core.errors import InvalidInput


def head_commit(path: str, branch: str | None) -> str:
    """The commit ``branch`` (default: HEAD) of the repository at ``path`` points at."""
    where = Path(path).expanduser()
    if not where.is_dir():
        raise InvalidInput(f"code trigger path {path!r} is not a folder")
    rev = f"refs/heads/{branch}^{{commit}}" if branch else "HEAD^{commit}"
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--verify", "--quiet", rev],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"cannot run git in {path!r}: {exc}") from None
    if done.returncode != 0:
        inside = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--git-dir"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if inside.returncode != 0:
            raise InvalidInput(f"code trigger path {path!r} is not a git repository")
        what = f"branch {branch!r}" if branch else "a commit (HEAD)"
        raise InvalidInput(f"git repository {path!r} has no {what}")
    return done.stdout.strip()
