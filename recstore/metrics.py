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
