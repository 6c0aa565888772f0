"""One attempt at one job: fetch through the provider's adapter, store through the one
store path, delete the provider's copy if asked. Safe to repeat after a crash at any point:
a recording already stored is found by its provider id and not fetched again."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from uuid import UUID

from aiohttp.abc import AbstractResolver

from ingest.errors import IngestFailure
from ingest.fetch import Fetcher, FetchLimits, FetchPolicy
from ingest.registry import ADAPTERS
from ingest.settings import IngestSettings
from recstore.accounts.providers import load_provider
from recstore.errors import NotFound, RecstoreError
from recstore.jobs import queue as jobs
from recstore.jobs.queue import Job
from recstore.object_store import ObjectStoreError
from recstore.recordings.store import IncomingRecording, existing_recording, store_recording
from recstore.services import Services


@dataclass(frozen=True)
class Outcome:
    recording_id: UUID
    created: bool


async def ingest_job(svc: Services, job: Job, settings: IngestSettings, *,
                     resolver: AbstractResolver | None = None) -> Outcome:
    adapter = ADAPTERS.get(job.provider)
    account = await load_provider(svc.pool, svc.keys, job.customer_id, job.provider)
    if adapter is None or account is None:
        raise IngestFailure("the customer has no account configured for this provider",
                            retryable=False)
    limits = FetchLimits(svc.settings.max_upload_bytes, settings.connect_timeout_seconds,
                         settings.read_timeout_seconds, settings.fetch_deadline_seconds)
    policy = FetchPolicy.for_provider(adapter.origins, account.api_base)
    async with Fetcher(policy, limits, resolver) as http:
        existing = await existing_recording(svc.pool, IncomingRecording(
            job.customer_id, job.provider, provider_recording_id=job.provider_recording_id))
        if existing is not None:
            outcome = Outcome(existing, created=False)
        else:
            optional = job.attempts >= min(settings.identity_lookup_attempts,
                                           settings.max_attempts)
            fetched = await adapter.fetch(job, jobs.open_private(svc.keys, job), account, http,
                                          identity_optional=optional)
            async with aclosing(fetched.body) as body:
                stored = await store_recording(svc.pool, svc.store, svc.keys, fetched.incoming,
                                               body, max_bytes=svc.settings.max_upload_bytes)
            outcome = Outcome(stored.recording_id, stored.created)
        if account.delete_after_fetch:
            await adapter.delete_copy(job, account, http)
    return outcome


def describe_failure(exc: BaseException) -> tuple[str, bool]:
    """(message for the job row, retryable). Messages are fixed texts and status codes: an
    arbitrary exception's own message could carry a URL or a number, so it is never used."""
    if isinstance(exc, IngestFailure):
        return exc.message, exc.retryable
    if isinstance(exc, NotFound):
        return "the customer no longer exists", False
    if isinstance(exc, RecstoreError):  # not audio, too large, past retention, keys shredded
        return exc.detail, False
    if isinstance(exc, ObjectStoreError):
        return "the object store failed; will retry", True
    return f"transient error ({type(exc).__name__}); will retry", True
