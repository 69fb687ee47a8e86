"""Configuration, read once from the environment into a frozen object and passed down."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loopml.core.errors import InvalidInput

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

    @property
    def cache_dir(self) -> Path:
        """Machine-local caches (hash cache); never shared between machines."""
        return self.home / "cache"


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
    )
