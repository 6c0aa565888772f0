"""The one small interface every pull-style provider implements, and the parsing helpers
they share.

verify → parse (on the webhook, which then enqueues a job) → fetch → delete_copy (in the
worker). Adapters never touch the database or the object store: the webhook and the
worker do, through `recstore.jobs.queue` and `recstore.recordings.store`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qsl

from ingest.fetch import Fetcher
from recstore.accounts.providers import ProviderAccount
from recstore.errors import Invalid
from recstore.jobs.queue import Job
from recstore.recordings.store import IncomingRecording

MAX_FIELD = 200
MAX_URL = 4096  # presigned media URLs run to several hundred characters
PROVIDER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True)
class Delivery:
    """A webhook request as the provider sent it."""

    url: str                   # the public URL the provider called, query string included
    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str]

    @cached_property
    def form(self) -> list[tuple[str, str]]:
        """The body as form fields, decoded once for verify and parse; Invalid if it is not."""
        return form_pairs(self.body)


@dataclass(frozen=True)
class JobSpec:
    provider_recording_id: str
    public: dict[str, Any]     # operational fields, stored in plain: kind, call id, times
    private: dict[str, Any]    # numbers, names, media URLs: sealed, dropped when done


@dataclass(frozen=True)
class Fetched:
    incoming: IncomingRecording
    body: AsyncGenerator[bytes, None]  # lazy: nothing is downloaded before store_recording asks


class ProviderAdapter(Protocol):
    name: str
    origins: tuple[str, ...]   # real API hosts (and media hosts) fetched from by default

    def verify(self, delivery: Delivery, account: ProviderAccount, *, now: float) -> None:
        """Raise Forbidden unless the provider signed this delivery for this account."""

    def parse(self, delivery: Delivery) -> JobSpec | None:
        """The job to enqueue, None for deliveries with nothing to fetch; Invalid if broken."""

    async def fetch(self, job: Job, private: dict[str, Any], account: ProviderAccount,
                    http: Fetcher, *, identity_optional: bool = False) -> Fetched:
        """Complete the metadata (the provider's API where the callback lacks it) and open
        the audio. With `identity_optional`, a failing lookup of caller identity no longer
        fails the attempt: the recording is stored without it, marked `lookup_failed`."""

    async def delete_copy(self, job: Job, account: ProviderAccount, http: Fetcher) -> None:
        """Delete the provider's copy; an already deleted copy is not an error."""


def form_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise Invalid("the callback body is not form-encoded UTF-8") from None


def _utf8(value: str) -> str:
    """JSON escapes can carry lone surrogates ("\\udcff"), which UTF-8 cannot encode: they
    become U+FFFD, so the recording is kept with that field marked as mangled."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_FIELD:
        raise Invalid(f"{name} is malformed")
    return _utf8(value)


def url_text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL or not value.startswith("http"):
        raise Invalid(f"{name} is malformed")
    return value


def loose_text(value: Any) -> str | None:
    """A field from a provider's API answer: kept if it is a sane string, dropped otherwise."""
    return _utf8(value) if isinstance(value, str) and 0 < len(value) <= MAX_FIELD else None


def provider_id(value: Any, name: str, pattern: re.Pattern[str] = PROVIDER_ID) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid(f"{name} is missing or malformed")
    return value


def optional_id(value: Any, pattern: re.Pattern[str] = PROVIDER_ID) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 or RFC 2822 (Twilio's REST times); naive times are taken as UTC."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def seconds(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number <= 7 * 24 * 3600 else None


def kind_from(query: Mapping[str, str], default: str) -> str:
    kind = query.get("kind", default)
    if kind not in ("call", "voicemail"):
        raise Invalid("kind must be call or voicemail")
    return kind


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def minus(value: datetime | None, duration: int | None) -> datetime | None:
    return value - timedelta(seconds=duration) if value and duration else value


def incoming_for(job: Job, private: dict[str, Any], **overrides: Any) -> IncomingRecording:
    fields: dict[str, Any] = {
        "kind": job.payload.get("kind", "call"),
        "recorded_at": parse_time(job.payload.get("recorded_at")),
        "caller_number": private.get("caller_number"),
        "caller_name": private.get("caller_name"),
        "callee_number": private.get("callee_number"),
    }
    fields.update({k: v for k, v in overrides.items() if v is not None})
    now = datetime.now(UTC)
    if fields["recorded_at"] is not None and fields["recorded_at"] > now:
        fields["recorded_at"] = now  # a clock ahead must not stretch retention
    return IncomingRecording(customer_id=job.customer_id, provider=job.provider,
                             provider_recording_id=job.provider_recording_id, **fields)
