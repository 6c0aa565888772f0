"""46elks: the callback of `recordcall` (whole calls) and `record` (voicemail).

46elks signs nothing, so the webhook URL carries `token=`, derived from the customer's
webhook secret and compared in constant time. Both actions post the same form fields
(callid, created, duration, wav, from, to); the URL's `kind=` tells them apart. Recording
ids are the last path segment of the `wav` URL (`<callid>-r0`). 46elks keeps recordings
for 72 hours and documents no DELETE for them: deletion is attempted on the recording
resource and a refusal (404/405/501) is taken as "nothing to delete".
"""

from __future__ import annotations

import hmac
import re
from typing import Any
from urllib.parse import urlparse

from ingest.adapter import (
    Delivery,
    Fetched,
    JobSpec,
    incoming_for,
    iso,
    kind_from,
    minus,
    optional_id,
    parse_time,
    provider_id,
    seconds,
    text,
    url_text,
)
from ingest.errors import http_failure
from ingest.fetch import Fetcher, basic_auth
from recstore.accounts.providers import ProviderAccount
from recstore.errors import Forbidden, Invalid
from recstore.jobs.queue import Job

API = "https://api.46elks.com"
RECORDING_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _recording_id(wav_url: str | None) -> str | None:
    if not wav_url:
        return None
    last = urlparse(wav_url).path.rsplit("/", 1)[-1]
    return last.removesuffix(".wav") or None


class ElksAdapter:
    name = "46elks"
    origins: tuple[str, ...] = (f"{API}/",)

    def verify(self, delivery: Delivery, account: ProviderAccount, *, now: float) -> None:
        offered = delivery.query.get("token", "").encode()
        if not hmac.compare_digest(offered, account.credentials["url_token"].encode()):
            raise Forbidden("signature does not match")

    def parse(self, delivery: Delivery) -> JobSpec | None:
        params = dict(delivery.form)
        wav = url_text(params.get("wav"), "wav")
        if wav is None:
            raise Invalid("the callback has no wav URL")
        recording_id = provider_id(_recording_id(wav), "recording id", RECORDING_ID)
        duration = seconds(params.get("duration"))
        completed = parse_time(params.get("created"))
        public = {
            "kind": kind_from(delivery.query, "call"),
            "call_id": optional_id(params.get("callid"), RECORDING_ID),
            "recorded_at": iso(minus(completed, duration)),  # `created` is when it ended
            "duration_seconds": duration,
        }
        private = {
            "media_url": wav,
            "caller_number": text(params.get("from"), "from"),
            "callee_number": text(params.get("to"), "to"),
        }
        return JobSpec(recording_id, public, private)

    @staticmethod
    def _auth(account: ProviderAccount) -> dict[str, str]:
        return basic_auth(account.credentials["username"], account.credentials["password"])

    async def fetch(self, job: Job, private: dict[str, Any], account: ProviderAccount,
                    http: Fetcher, *, identity_optional: bool = False) -> Fetched:
        base = account.api_base or API
        media_url = private.get("media_url") or f"{base}/a1/recordings/{job.provider_recording_id}.wav"
        return Fetched(incoming_for(job, private), http.stream(media_url, headers=self._auth(account)))

    async def delete_copy(self, job: Job, account: ProviderAccount, http: Fetcher) -> None:
        base = account.api_base or API
        status = await http.delete(f"{base}/a1/recordings/{job.provider_recording_id}",
                                   headers=self._auth(account))
        if status not in (200, 204, 404, 405, 501):
            raise http_failure("deleting 46elks' copy", status)
