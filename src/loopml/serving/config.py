"""How an endpoint runs: one frozen object built by the CLI (or a test) and passed down."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidInput

if TYPE_CHECKING:
    from loopml.core.settings import Settings

# How ``loopml serve --workers N`` hands the configuration to the worker processes uvicorn
# spawns (process plumbing, not settings).
CONFIG_ENV = "LOOPML_SERVE_CONFIG"


@dataclass(frozen=True)
class ServeConfig:
    ref: str  # churn@production, churn@3 or churn (latest)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch_size: int = 256  # rows per predict call
    max_latency_ms: float = 5.0  # the longest a request waits for its batch to fill
    log_sample_rate: float = 1.0  # share of requests whose inputs and outputs are logged
    log_dir: str | None = None  # a folder or s3:// prefix; default: Settings.monitoring_url
    log_queue_size: int = 10_000  # requests waiting to be logged; more are dropped
    log_flush_s: float = 0.5
    max_body_bytes: int = 8 * 1024 * 1024
    poll_interval_s: float = 0.5  # how often the endpoint looks for alias moves
    allow_nan: bool | None = None  # None: what the model declares (scikit-learn tags)
    trusted: bool = False  # allow loading pickled (python flavor) models
    access_log: bool = False
    allowed_hosts: tuple[str, ...] = ()  # Host names answered besides the loopback ones
    metrics_dir: str | None = None  # --workers N: where the workers' metric files go

    def __post_init__(self) -> None:
        from loopml.serving.hosts import normalize_allowed

        # a tuple, normalized once (from JSON it arrives as a list)
        hosts = tuple(dict.fromkeys(normalize_allowed(h) for h in self.allowed_hosts))
        object.__setattr__(self, "allowed_hosts", hosts)
        checks = [
            (self.workers >= 1, "--workers must be at least 1"),
            (1 <= self.port <= 65535 or self.port == 0, "--port must be 0-65535"),
            (self.max_batch_size >= 1, "--max-batch-size must be at least 1"),
            (self.max_latency_ms >= 0, "--max-latency-ms must be 0 or more"),
            (0.0 <= self.log_sample_rate <= 1.0, "--log-sample-rate must be between 0 and 1"),
            (self.log_queue_size >= 1, "the log queue size must be at least 1"),
            (self.max_body_bytes >= 64, "the body size limit must be at least 64 bytes"),
            (self.poll_interval_s > 0, "the poll interval must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInput(message)

    def log_path(self, settings: Settings) -> str:
        """Where the prediction log goes: ``--log-dir``, else where monitors read it."""
        return self.log_dir or settings.monitoring_url

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
