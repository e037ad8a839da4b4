"""Service configuration, read from ``MLP_``-prefixed environment variables (and ``.env``)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.host_guard import normalise_host, normalise_origin
from app.jobs.base import PROGRESS_INTERVAL_SECONDS, SNAPSHOT_EVERY_EPOCHS
from app.owners import keyring, parse_key


def _default_concurrency() -> int:
    """Cores minus one (one core stays free for requests), at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


class Settings(BaseSettings):
    """Every tunable of the service. Each field is ``MLP_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MLP_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Where datasets, models and the job database live.
    data_dir: Path = Path("./data")
    # HTTP server (used by `mlp-service serve` / `make run`).
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # MLP_HTTP_WORKERS; MLP_WORKERS, its former name, is still read.
    http_workers: int = Field(
        1,
        ge=1,
        le=64,
        validation_alias=AliasChoices("MLP_HTTP_WORKERS", "MLP_WORKERS"),
        description="uvicorn worker processes over one data dir",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True
    # One access line per request (app.access, with its request ID); off behind a proxy that logs.
    access_log: bool = True
    # An idle keep-alive connection is closed after this many seconds. Longer than clients' own
    # idle expiry (httpx and mlp_client: 5 s), so a client never sends a request on a
    # connection the server is closing at that moment (uvicorn's 5 s made that race a reset).
    keep_alive_seconds: int = Field(30, ge=1, le=3600)
    # Comma-separated bearer keys, each `name:key` or a bare key (its owner identity is then
    # `sha256:` + 16 hex digits of its hash); empty (and no admin keys) means the API is open.
    # With keys, each dataset, job and model belongs to the key (name) that created it.
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Keys in the same format that see and act on every key's datasets, jobs and models.
    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Comma-separated host names or addresses accepted in `Host` (ports not needed), besides
    # localhost, 127.0.0.1, ::1 and the address a connection arrived on; `*` accepts any (and
    # gives up the DNS-rebinding protection). Others get 400.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Comma-separated origins (`https://app.example`) whose pages may send POST, PUT, PATCH and
    # DELETE besides the service's own; `*`: any. Other browser origins get 403.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Jobs.
    job_backend: Literal["embedded", "rq"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    rq_queue: str = Field("mlp-jobs", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    max_concurrent_jobs: int = Field(default_factory=_default_concurrency, ge=1, le=256)
    max_queued_jobs: int = Field(32, ge=0, le=100_000)
    job_cancel_grace_seconds: float = Field(5.0, gt=0, le=300)
    job_timeout_seconds: float = Field(3600.0, gt=0)
    # Embedded job processes run below requests: a nice value (0-19), or "idle" for Linux's
    # SCHED_IDLE class, which yields to every other process on the machine, so a busy
    # neighbour (or any CPU-bound program) can starve the jobs for as long as it runs.
    job_priority: Literal["idle"] | Annotated[int, Field(ge=0, le=19)] = 10
    progress_interval_seconds: float = Field(PROGRESS_INTERVAL_SECONDS, ge=0, le=60)
    snapshot_every_epochs: int = Field(SNAPSHOT_EVERY_EPOCHS, ge=1)

    # Input limits (each is inclusive: a value at the cap is accepted, cap + 1 is a 422).
    max_body_bytes: int = Field(64 * 2**20, ge=1024)
    # /v1/datasets and /v1/jobs read at most max_rows x (max_features + 1) x this + 64 KiB
    # (and never more than max_body_bytes): the JSON text one value and its separator may take.
    body_bytes_per_value: int = Field(32, ge=2)
    max_rows: int = Field(100_000, ge=1)
    max_features: int = Field(1024, ge=1)
    max_hidden_layers: int = Field(10, ge=1)
    max_units: int = Field(1024, ge=1)
    max_epochs: int = Field(10_000, ge=1)
    max_batch_size: int = Field(100_000, ge=1)
    max_grid_resolution: int = Field(1000, ge=2)
    max_classes: int = Field(100, ge=2)
    # Longest class label (characters): a longer one is a 422 naming `y` or the label column.
    max_label_chars: int = Field(200, ge=1, le=1000)
    # A categorical column's categories are listed in the dataset's metadata up to this many
    # (its `n_categories` is always there).
    max_listed_categories: int = Field(1000, ge=1)
    # A model learns at most this many distinct values of one categorical column (the kept ones
    # and the rare ones grouped as "other", all stored in its file): a job or sweep on a dataset
    # column with more is a 422 naming it (an ID-like column: drop it with `ignore=`).
    max_column_categories: int = Field(10_000, ge=1)
    max_model_bytes: int = Field(64 * 2**20, ge=1024)
    # Bytes of datasets and models (with their frames files) per owner (each API key; everything
    # without keys) and in all; a write that would pass either is a 507. 0 = no quota.
    storage_quota_bytes: int = Field(2 * 2**30, ge=0)
    storage_total_quota_bytes: int = Field(20 * 2**30, ge=0)
    # Loaded models kept in memory per process: at most this many, and at most this many bytes of
    # weights (least recently used evicted first; a model larger than the byte bound is not kept).
    model_cache_size: int = Field(32, ge=1)
    model_cache_bytes: int = Field(256 * 2**20, ge=0)
    # A job's estimated time: rows x parameters x epochs plus update steps (epochs x
    # ceil(rows / batch_size)) x the step cost; about a few minutes of training on one core.
    compute_budget: float = Field(2e10, gt=0)
    # One update step's fixed overhead in parameter x row units: bench/engine.py measures ~9 us
    # per step of the notebook's tiny network (batch 1), where a parameter x row costs ~3-15 ns.
    compute_step_cost: int = Field(1000, ge=0)
    # Sweeps: trials per sweep, and the compute budget of all its jobs together (trials x folds
    # + the refit; 50 single-job budgets); how often the API advances running sweeps.
    sweep_max_trials: int = Field(1000, ge=1)
    sweep_compute_budget: float = Field(1e12, gt=0)
    sweep_poll_seconds: float = Field(0.5, gt=0, le=60)

    @field_validator("api_keys", "admin_keys", "allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("api_keys", "admin_keys")
    @classmethod
    def _check_key_names(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_key(entry)  # ValueError naming the expected `name:key` form
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        return [normalise_host(entry) for entry in value]  # ValueError for a malformed one

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [normalise_origin(entry) for entry in value]

    @model_validator(mode="after")
    def _check_keyring(self) -> Settings:
        keyring(self.api_keys, self.admin_keys)  # ValueError for a key given twice
        return self

    @property
    def keys_enabled(self) -> bool:
        """Whether API keys (plain or admin) are configured: the API is not open."""
        return bool(self.api_keys or self.admin_keys)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
