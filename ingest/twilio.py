"""Twilio: recording status callbacks and `<Record>` action callbacks (voicemail).

The signature is twilio-python's `RequestValidator`: base64 HMAC-SHA1 under the auth token
of the full URL Twilio called followed by every form parameter name + value, names sorted,
each name's distinct values sorted; accepted with the URL's port both added and removed,
because Twilio's own signing is inconsistent about it. JSON bodies are signed over the URL
only, the URL carrying `bodySHA256`. Status callbacks carry no From/To: the worker reads them
from the Call resource.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import ParseResult, parse_qs, urlparse

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
    seconds,
    text,
    url_text,
)
from ingest.errors import IngestFailure, http_failure
from ingest.fetch import Fetcher, basic_auth
from recstore.accounts.providers import ProviderAccount
from recstore.errors import Forbidden, Invalid
from recstore.jobs.queue import Job

log = logging.getLogger("recstore.ingest")
API = "https://api.twilio.com"
RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")


def compute_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    message = url + "".join(name + value for name in sorted(values)
                            for value in sorted(values[name]))
    mac = hmac.new(auth_token.encode(), message.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def _with_port(parsed: ParseResult) -> str:
    if parsed.port:
        return parsed.geturl()
    port = 443 if parsed.scheme == "https" else 80
    return parsed._replace(netloc=f"{parsed.netloc}:{port}").geturl()


def _without_port(parsed: ParseResult) -> str:
    if not parsed.port:
        return parsed.geturl()
    return parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl()


def signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]],
                    signature: str, *, json_body: bytes | None = None) -> bool:
    parsed = urlparse(url)
    body_ok = True
    if json_body is not None:
        query = parse_qs(parsed.query)
        if "bodySHA256" in query:
            body_ok = hmac.compare_digest(hashlib.sha256(json_body).hexdigest(),
                                          query["bodySHA256"][0])
            params = ()
    pairs = list(params)
    # The URL as called first; the other port form is computed only when that fails.
    candidates = dict.fromkeys((url, _without_port(parsed), _with_port(parsed)))
    matches = (hmac.compare_digest(compute_signature(auth_token, candidate, pairs).encode(),
                                   signature.encode())
               for candidate in candidates)
    return body_ok and any(matches)


def _sid_from_url(media_url: str | None) -> str | None:
    if not media_url:
        return None
    last = urlparse(media_url).path.rsplit("/", 1)[-1]
    return last.split(".", 1)[0] or None


class TwilioAdapter:
    name = "twilio"
    origins: tuple[str, ...] = (f"{API}/",)

    def verify(self, delivery: Delivery, account: ProviderAccount, *, now: float) -> None:
        signature = delivery.headers.get("X-Twilio-Signature", "")
        is_json = delivery.headers.get("Content-Type", "").startswith("application/json")
        try:
            params = [] if is_json else delivery.form
        except Invalid:
            raise Forbidden("signature does not match") from None
        if not signature or not signature_valid(
                account.credentials["auth_token"], delivery.url, params, signature,
                json_body=delivery.body if is_json else None):
            raise Forbidden("signature does not match")

    def parse(self, delivery: Delivery) -> JobSpec | None:
        params = dict(delivery.form)
        status = params.get("RecordingStatus")
        if status is not None and status != "completed":
            return None  # in-progress, absent (too short or silent), failed: nothing to fetch
        media_url = url_text(params.get("RecordingUrl"), "RecordingUrl")
        sid = provider_id(params.get("RecordingSid") or _sid_from_url(media_url),
                          "RecordingSid", RECORDING_SID)
        # <Record> action callbacks have no RecordingSource; RecordVerb is <Record> too.
        source = params.get("RecordingSource")
        kind = kind_from(delivery.query, "voicemail" if source in (None, "RecordVerb") else "call")
        public = {
            "kind": kind,
            "call_sid": optional_id(params.get("CallSid"), CALL_SID),
            "account_sid": optional_id(params.get("AccountSid"), ACCOUNT_SID),
            "recorded_at": iso(parse_time(params.get("RecordingStartTime"))),
            "duration_seconds": seconds(params.get("RecordingDuration")),
        }
        private = {
            "media_url": media_url,
            "caller_number": text(params.get("From"), "From"),
            "callee_number": text(params.get("To"), "To"),
            "caller_name": text(params.get("CallerName"), "CallerName"),
        }
        return JobSpec(sid, public, private)

    @staticmethod
    def _api(account: ProviderAccount) -> tuple[str, dict[str, str]]:
        account_sid = account.credentials["account_sid"]
        base = account.api_base or API
        return (f"{base}/2010-04-01/Accounts/{account_sid}",
                basic_auth(account_sid, account.credentials["auth_token"]))

    async def fetch(self, job: Job, private: dict[str, Any], account: ProviderAccount,
                    http: Fetcher, *, identity_optional: bool = False) -> Fetched:
        root, auth = self._api(account)
        found: dict[str, Any] = {}
        call_sid = job.payload.get("call_sid")
        if call_sid and not (private.get("caller_number") or private.get("callee_number")):
            try:
                call = await http.json(f"{root}/Calls/{call_sid}.json", headers=auth,
                                       what="call")
            except IngestFailure as exc:
                if not identity_optional:
                    raise
                # The audio matters more than who called: keep it, and say what is missing.
                log.warning("Twilio call lookup failed; storing without caller identity",
                            extra={"job_id": str(job.id), "reason": exc.message})
                call = None
            if call is None:
                found = {"caller_identity": "lookup_failed"}
            else:
                found = {"caller_number": loose_text(call.get("from")),
                         "callee_number": loose_text(call.get("to")),
                         "caller_name": loose_text(call.get("caller_name"))}
                if job.payload.get("recorded_at") is None:
                    found["recorded_at"] = parse_time(call.get("start_time"))
        media_url = private.get("media_url") or f"{root}/Recordings/{job.provider_recording_id}"
        return Fetched(incoming_for(job, private, **found), http.stream(media_url, headers=auth))

    async def delete_copy(self, job: Job, account: ProviderAccount, http: Fetcher) -> None:
        root, auth = self._api(account)
        status = await http.delete(f"{root}/Recordings/{job.provider_recording_id}.json",
                                   headers=auth)
        if status not in (200, 204, 404):
            raise http_failure("deleting Twilio's copy", status)
