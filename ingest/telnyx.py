"""Telnyx: `call.recording.saved` events of Call Control, Ed25519-signed.

As telnyx-python's `lib/webhook_verification.py`: the signature (base64, 64 bytes, header
`telnyx-signature-ed25519`) covers `f"{telnyx-timestamp}|{raw body}"` under the account's
public key (base64 of 32 bytes), and the timestamp may be at most 300 s off either way.
`recording_urls` are presigned S3 links valid for 10 minutes; when one has expired the
worker asks `GET /v2/recordings/{id}` for fresh `download_urls` with the API key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from ingest.adapter import (
    Delivery,
    Fetched,
    JobSpec,
    incoming_for,
    iso,
    kind_from,
    loose_text,
    optional_id,
    parse_time,
    provider_id,
    text,
    url_text,
)
from ingest.errors import IngestFailure, http_failure
from ingest.fetch import Fetcher
from ingest.timestamps import within_tolerance
from recstore.accounts.providers import ProviderAccount
from recstore.errors import Forbidden, Invalid
from recstore.jobs.queue import Job

API = "https://api.telnyx.com"
# Where recording_urls point (developers.telnyx.com, "Storing call recordings").
MEDIA = "https://s3.amazonaws.com/telephony-recorder-prod/"
TOLERANCE_SECONDS = 300
EXPIRED_LINK = (400, 403, 404)


def verify_signature(public_key_b64: str, headers: Mapping[str, str], body: bytes, *,
                     now: float, tolerance: int = TOLERANCE_SECONDS) -> None:
    signature_b64 = headers.get("telnyx-signature-ed25519", "")
    timestamp = headers.get("telnyx-timestamp", "")
    try:
        if not within_tolerance(timestamp, now=now, tolerance=tolerance):  # no oracle: same words
            raise Forbidden("signature does not match")
        signature = base64.b64decode(signature_b64, validate=True)
        key = VerifyKey(base64.b64decode(public_key_b64, validate=True))
        if len(signature) != 64:
            raise Forbidden("signature does not match")
        key.verify(timestamp.encode() + b"|" + body, signature)
    except (ValueError, binascii.Error, BadSignatureError):
        raise Forbidden("signature does not match") from None


def _pick(urls: Any, preferred: Any) -> str | None:
    if not isinstance(urls, dict):
        return None
    order = [preferred] if preferred in ("mp3", "wav") else []
    for fmt in [*order, "mp3", "wav"]:
        if isinstance(urls.get(fmt), str) and urls[fmt]:
            value: str = urls[fmt]
            return value
    return None


class TelnyxAdapter:
    name = "telnyx"
    origins: tuple[str, ...] = (f"{API}/", MEDIA)

    def verify(self, delivery: Delivery, account: ProviderAccount, *, now: float) -> None:
        verify_signature(account.credentials["public_key"], delivery.headers, delivery.body,
                         now=now)

    def parse(self, delivery: Delivery) -> JobSpec | None:
        try:
            data = json.loads(delivery.body)["data"]
            payload = data["payload"]
        except (ValueError, KeyError, TypeError):
            raise Invalid("the body is not a Telnyx event") from None
        if not isinstance(data, dict) or data.get("event_type") != "call.recording.saved":
            return None  # other call events delivered to the same URL
        if not isinstance(payload, dict):
            raise Invalid("the event has no payload")
        recording_id = optional_id(payload.get("recording_id"))
        media_url = url_text(_pick(payload.get("recording_urls"), payload.get("format"))
                             or _pick(payload.get("public_recording_urls"), payload.get("format")),
                             "recording_urls")
        if media_url is None and recording_id is None:
            raise Invalid("the event has neither recording_urls nor recording_id")
        started = parse_time(payload.get("recording_started_at") or payload.get("start_time"))
        public = {
            "kind": kind_from(delivery.query, "call"),
            "call_id": optional_id(payload.get("call_session_id") or payload.get("call_leg_id")),
            "recording_id": recording_id,
            "recorded_at": iso(started),
        }
        private = {
            "media_url": media_url,
            "caller_number": text(payload.get("from"), "from"),
            "callee_number": text(payload.get("to"), "to"),
        }
        key = recording_id or provider_id(data.get("id"), "event id")
        return JobSpec(key, public, private)

    @staticmethod
    def _api(account: ProviderAccount) -> tuple[str, dict[str, str]]:
        return (account.api_base or API,
                {"Authorization": f"Bearer {account.credentials['api_key']}"})

    async def _fresh(self, recording_id: str, account: ProviderAccount, http: Fetcher
                     ) -> dict[str, Any]:
        base, headers = self._api(account)
        answer = await http.json(f"{base}/v2/recordings/{recording_id}", headers=headers,
                                 what="recording")
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    async def _audio(self, job: Job, private: dict[str, Any], account: ProviderAccount,
                     http: Fetcher) -> AsyncGenerator[bytes, None]:
        recording_id = job.payload.get("recording_id")
        if media_url := private.get("media_url"):
            started = False
            try:
                async for piece in http.stream(media_url):
                    started = True
                    yield piece
                return
            except IngestFailure as exc:
                if started or exc.status not in EXPIRED_LINK or not recording_id:
                    raise
        if not recording_id:
            raise IngestFailure("the event has no recording id to renew its link", retryable=False)
        fresh = _pick((await self._fresh(recording_id, account, http)).get("download_urls"), None)
        if fresh is None:
            raise IngestFailure("Telnyx returned no download URL", retryable=True)
        async for piece in http.stream(fresh):
            yield piece

    async def fetch(self, job: Job, private: dict[str, Any], account: ProviderAccount,
                    http: Fetcher, *, identity_optional: bool = False) -> Fetched:
        found: dict[str, Any] = {}
        recording_id = job.payload.get("recording_id")
        if recording_id and not (private.get("caller_number") or private.get("callee_number")):
            resource = await self._fresh(recording_id, account, http)
            found = {"caller_number": loose_text(resource.get("from")),
                     "callee_number": loose_text(resource.get("to"))}
        return Fetched(incoming_for(job, private, **found),
                       self._audio(job, private, account, http))

    async def delete_copy(self, job: Job, account: ProviderAccount, http: Fetcher) -> None:
        recording_id = job.payload.get("recording_id")
        if not recording_id:
            return  # only events with a recording id can be deleted through the API
        base, headers = self._api(account)
        status = await http.delete(f"{base}/v2/recordings/{recording_id}", headers=headers)
        if status not in (200, 204, 404):
            raise http_failure("deleting Telnyx's copy", status)
