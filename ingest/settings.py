"""Tuning of the ingest worker, from RECSTORE_INGEST_* variables (defaults suit production)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECSTORE_INGEST_", extra="ignore", frozen=True)

    concurrency: int = Field(default=4, ge=1, le=64)
    lease_seconds: float = Field(default=60.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    backoff_base_seconds: float = Field(default=10.0, ge=0)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    connect_timeout_seconds: float = Field(default=10.0, gt=0)
    read_timeout_seconds: float = Field(default=30.0, gt=0)
    fetch_deadline_seconds: float = Field(default=1800.0, gt=0)
    # Attempts that wait for a failing caller lookup (Twilio's Call resource) before the
    # recording is stored without caller identity instead of being lost.
    identity_lookup_attempts: int = Field(default=3, ge=1)
    housekeeping_seconds: float = Field(default=30.0, gt=0)
    # Longest retention (90 days): finished jobs, and dead jobs' wrapped fields, go after it.
    keep_finished_days: int = Field(default=90, ge=1)
