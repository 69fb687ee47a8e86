"""Configuration, read once from the environment into a frozen object and passed down."""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loopml.core.errors import InvalidInput

_HOME_HINT = "set LOOPML_HOME to a folder you can write to (it is created if missing)"

HEARTBEAT_S = 10.0  # how often a live run says so
STALE_AFTER_BEATS = 3  # missed heartbeats after which another host reports a run lost


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    blobs_url: str
    uri: str | None = None
    token: str | None = None
    heartbeat_s: float = HEARTBEAT_S
    heartbeat_timeout_s: float = HEARTBEAT_S * STALE_AFTER_BEATS
    monitoring: str | None = None  # LOOPML_MONITORING; None: derived, see monitoring_url

    @property
    def monitoring_url(self) -> str:
        """Where endpoints log predictions and feedback and monitors read them: the folder
        ``$LOOPML_HOME/monitoring`` when the blobs are local, else the prefix ``monitoring``
        beside the blob prefix (``s3://bucket/loopml/blobs`` → ``s3://bucket/loopml/monitoring``,
        ``s3://bucket`` → ``s3://bucket/monitoring``), so every replica and every monitor
        finds one place; ``LOOPML_MONITORING`` names another folder or ``s3://`` prefix."""
        if self.monitoring:
            return self.monitoring
        if self.blobs_url.startswith("s3://"):
            bucket, _, prefix = self.blobs_url[len("s3://") :].partition("/")
            parts = [p for p in prefix.split("/") if p]
            return "s3://" + "/".join([bucket, *parts[:-1], "monitoring"])
        return str(self.home / "monitoring")

    @property
    def cache_dir(self) -> Path:
        """Machine-local caches (hash cache); never shared between machines."""
        return self.home / "cache"

    def prepare_home(self) -> None:
        """Create the home folder if missing and check that it is a writable folder; a clear
        ``InvalidInput`` naming the path otherwise (never a bare ``OSError``)."""
        prepare_home(self.home)


def prepare_home(home: Path) -> None:
    """Create ``home`` (and missing parents) and prove it writable by writing a file in it."""
    where = f"the loopml home {str(home)!r}"
    if home.exists() and not home.is_dir():
        raise InvalidInput(f"{where} is a file, not a folder; move the file away or {_HOME_HINT}")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {where}: {_reason(home, exc)}; {_HOME_HINT}") from None
    try:
        # Permission bits alone do not tell (root ignores them; a read-only mount or an
        # immutable folder refuses root too), so try what the stores will do: write a file.
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=home)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInput(f"{where} is not writable: {_reason(home, exc)}; {_HOME_HINT}") from None


def _reason(home: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        blocker = next((p for p in home.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return f"{str(blocker)!r} is a file, not a folder"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({exc.strerror})"
    return exc.strerror or str(exc)


def _seconds(name: str, text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise InvalidInput(f"{name} must be a number of seconds above 0, got {text!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None, **overrides: str | None) -> Settings:
    """Build settings from ``LOOPML_*`` variables; keyword overrides win over the environment."""
    env = os.environ if env is None else env
    home = Path(overrides.get("home") or env.get("LOOPML_HOME") or ".loopml").absolute()
    db_url = overrides.get("db") or env.get("LOOPML_DB") or f"sqlite:///{home / 'loopml.db'}"
    blobs = overrides.get("blobs") or env.get("LOOPML_BLOBS") or str(home / "blobs")
    heartbeat = _seconds(
        "LOOPML_HEARTBEAT_S",
        overrides.get("heartbeat_s") or env.get("LOOPML_HEARTBEAT_S"),
        HEARTBEAT_S,
    )
    timeout = _seconds(
        "LOOPML_HEARTBEAT_TIMEOUT_S",
        overrides.get("heartbeat_timeout_s") or env.get("LOOPML_HEARTBEAT_TIMEOUT_S"),
        heartbeat * STALE_AFTER_BEATS,
    )
    return Settings(
        home=home,
        db_url=db_url,
        blobs_url=blobs,
        uri=overrides.get("uri") or env.get("LOOPML_URI"),
        token=overrides.get("token") or env.get("LOOPML_TOKEN"),
        heartbeat_s=heartbeat,
        heartbeat_timeout_s=timeout,
        monitoring=overrides.get("monitoring") or env.get("LOOPML_MONITORING") or None,
    )
