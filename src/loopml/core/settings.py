"""Configuration, read once from the environment into a frozen object and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    db_url: str
    blobs_url: str
    uri: str | None = None
    token: str | None = None

    @property
    def cache_dir(self) -> Path:
        """Machine-local caches (hash cache); never shared between machines."""
        return self.home / "cache"


def load_settings(env: Mapping[str, str] | None = None, **overrides: str | None) -> Settings:
    """Build settings from ``LOOPML_*`` variables; keyword overrides win over the environment."""
    env = os.environ if env is None else env
    home = Path(overrides.get("home") or env.get("LOOPML_HOME") or ".loopml").absolute()
    db_url = overrides.get("db") or env.get("LOOPML_DB") or f"sqlite:///{home / 'loopml.db'}"
    blobs = overrides.get("blobs") or env.get("LOOPML_BLOBS") or str(home / "blobs")
    return Settings(
        home=home,
        db_url=db_url,
        blobs_url=blobs,
        uri=overrides.get("uri") or env.get("LOOPML_URI"),
        token=overrides.get("token") or env.get("LOOPML_TOKEN"),
    )
