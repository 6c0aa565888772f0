"""Prometheus metrics. Labels are route templates, providers and reasons: never ids or people."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "recstore_http_requests", "HTTP requests answered", ["method", "route", "status"],
            registry=r)
        self.loop_lag = Histogram(
            "recstore_event_loop_lag_seconds", "How late a 5 ms timer fired (recstore/runtime/looplag.py)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0), registry=r)
        self.http_latency = Histogram(
            "recstore_http_request_seconds", "HTTP request latency", ["method", "route"],
            registry=r)
        self.login_failures = Counter(
            "recstore_login_failures", "Failed login attempts", registry=r)
        self.login_throttled = Counter(
            "recstore_login_throttled", "Login attempts refused by the throttle (429)",
            registry=r)
        self.exports = Counter(
            "recstore_exports", "Customer exports by outcome", ["outcome"], registry=r)
        self.erasures = Counter(
            "recstore_account_erasures", "Account erasure runs by outcome", ["outcome"],
            registry=r)
        self.access_denied = Counter(
            "recstore_access_denied", "Requests refused by authentication or authorization",
            ["reason"], registry=r)
        self.webhook_signature_failures = Counter(
            "recstore_webhook_signature_failures", "Webhooks refused for their signature",
            ["provider"], registry=r)
        self.recordings_stored = Counter(
            "recstore_recordings_stored", "Recordings stored", ["provider"], registry=r)
        self.bytes_stored = Counter(
            "recstore_audio_bytes_stored", "Plaintext audio bytes stored", registry=r)
        self.ingest_rejected = Counter(
            "recstore_ingest_rejected", "Deliveries refused", ["provider", "reason"], registry=r)
        self.ingest_jobs = Gauge(
            "recstore_ingest_jobs", "Provider fetch jobs by status (queue depth, dead letters)",
            ["status"], registry=r)
        self.ingest_job_outcomes = Counter(
            "recstore_ingest_job_outcomes", "Provider fetch job attempts by outcome",
            ["provider", "outcome"], registry=r)
        self.oldest_recording_age = Gauge(
            "recstore_oldest_recording_age_seconds", "Age of the oldest live recording",
            registry=r)
        self.retention_deleted = Counter(
            "recstore_retention_deleted", "Recordings hard-deleted by the retention scheduler",
            registry=r)
        self.retention_failures = Counter(
            "recstore_retention_failures", "Retention failures (object deletes, whole passes)",
            ["step"], registry=r)
        self.retention_overdue = Gauge(
            "recstore_retention_overdue_recordings",
            "Recordings past expiry by more than the tolerance; must be 0", registry=r)
        self.retention_last_success = Gauge(
            "recstore_retention_last_success_timestamp_seconds",
            "Unix time of the last retention pass without failures (any process)", registry=r)
        self.retention_since_last_pass = Gauge(
            "recstore_retention_seconds_since_last_pass",
            "Seconds since the last retention pass without failures (any process)", registry=r)
        self.epochs_destroyed = Counter(
            "recstore_retention_epochs_destroyed", "Retention epochs whose secret was destroyed",
            registry=r)
        self.janitor_removed = Counter(
            "recstore_janitor_removed", "Orphan objects and object-less rows removed",
            ["kind"], registry=r)
        self.janitor_rows_missing_object = Gauge(
            "recstore_janitor_rows_missing_object",
            "Recording rows whose object was missing at the last janitor pass", registry=r)
