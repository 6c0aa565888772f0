"""Fake Twilio, 46elks and Telnyx APIs served on loopback over real HTTP, plus senders that
sign callbacks the way each provider does. Tests point a customer's `api_base` at the fake."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from nacl.signing import SigningKey

from ingest.twilio import compute_signature

TWILIO_ACCOUNT = "AC" + "a1" * 16
TWILIO_TOKEN = "twilio-auth-token-for-tests"
ELKS_USER, ELKS_PASSWORD = "u0123456789abcdef", "elks-password-for-tests"
TELNYX_API_KEY = "KEY-telnyx-for-tests"
CALLER, CALLEE, CALLER_NAME = "+46701234567", "+46812345678", "Anna Svensson"
# Recent, so nothing is past retention whenever the tests run; what each provider reports.
STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def rfc3339(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def recording_sid(n: int) -> str:
    return f"RE{n:032x}"


def call_sid(n: int) -> str:
    return f"CA{n:032x}"


@dataclass
class FakeProvider:
    audio: bytes
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)   # statuses for the next media GETs
    call_fail_next: list[int] = field(default_factory=list)  # ... for Twilio call lookups
    hang_seconds: float = 0.0                             # delay before media answers
    jitter_seconds: float = 0.0                           # random extra delay, any request
    media_delay: float = 0.0                              # pause between media pieces
    tail_delay: float = 0.0                               # pause between pieces past 1 MiB
    audio_for: dict[str, bytes] = field(default_factory=dict)  # by recording id
    content_type: str = "audio/x-wav"
    body: bytes | None = None                             # media body override
    expired: set[str] = field(default_factory=set)        # Telnyx links that answer 403
    delete_status: int = 204
    declare_length: bool = False                          # Content-Length instead of chunked
    base: str = ""

    def _log(self, request: web.Request) -> None:
        self.requests.append((request.method, request.path, request.headers.get("Authorization")))

    async def _jitter(self) -> None:
        if self.jitter_seconds:
            await asyncio.sleep(random.uniform(0, self.jitter_seconds))

    def paths(self, method: str) -> list[str]:
        return [path for m, path, _ in self.requests if m == method]

    async def _media(self, request: web.Request, auth: str | None) -> web.StreamResponse:
        self._log(request)
        if auth is not None and request.headers.get("Authorization") != auth:
            return web.Response(status=401)
        await self._jitter()
        if self.hang_seconds:
            await asyncio.sleep(self.hang_seconds)
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0), text="provider trouble")
        rid = request.match_info.get("sid") or request.match_info.get("rid", "")
        body = self.body if self.body is not None else self.audio_for.get(rid, self.audio)
        response = web.StreamResponse(headers={"Content-Type": self.content_type})
        if self.declare_length:
            response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), 16 * 1024):
            delay = self.tail_delay if start >= 1024 * 1024 else self.media_delay
            if delay:
                await asyncio.sleep(delay)
            await response.write(body[start:start + 16 * 1024])
        await response.write_eof()
        return response

    async def twilio_media(self, request: web.Request) -> web.StreamResponse:
        return await self._media(request, basic(TWILIO_ACCOUNT, TWILIO_TOKEN))

    async def twilio_call(self, request: web.Request) -> web.Response:
        self._log(request)
        if request.headers.get("Authorization") != basic(TWILIO_ACCOUNT, TWILIO_TOKEN):
            return web.Response(status=401)
        await self._jitter()
        if self.call_fail_next:
            return web.Response(status=self.call_fail_next.pop(0), text="provider trouble")
        return web.json_response({"sid": request.match_info["call"], "from": CALLER,
                                  "to": CALLEE, "caller_name": CALLER_NAME,
                                  "start_time": format_datetime(STARTED - timedelta(seconds=1))})

    async def deleted(self, request: web.Request) -> web.Response:
        self._log(request)
        return web.Response(status=self.delete_status)

    async def elks_media(self, request: web.Request) -> web.StreamResponse:
        return await self._media(request, basic(ELKS_USER, ELKS_PASSWORD))

    async def telnyx_media(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["rid"] in self.expired and "fresh" not in request.query:
            self._log(request)
            return web.Response(status=403, text="<Error>Request has expired</Error>")
        return await self._media(request, None)

    async def telnyx_recording(self, request: web.Request) -> web.Response:
        self._log(request)
        if request.headers.get("Authorization") != f"Bearer {TELNYX_API_KEY}":
            return web.Response(status=401)
        rid = request.match_info["rid"]
        return web.json_response({"data": {
            "id": rid, "from": CALLER, "to": CALLEE,
            "download_urls": {"wav": f"{self.base}/telephony-recorder-prod/{rid}.wav?fresh=1"}}})

    async def redirect(self, request: web.Request) -> web.Response:
        self._log(request)
        raise web.HTTPFound(request.query["to"])

    def app(self) -> web.Application:
        app = web.Application()
        twilio = "/2010-04-01/Accounts/{account}"
        app.router.add_get(twilio + "/Recordings/{sid}", self.twilio_media)
        app.router.add_get(twilio + "/Calls/{call}.json", self.twilio_call)
        app.router.add_delete(twilio + "/Recordings/{sid}", self.deleted)
        app.router.add_get("/a1/recordings/{rid}.wav", self.elks_media)
        app.router.add_delete("/a1/recordings/{rid}", self.deleted)
        app.router.add_get("/telephony-recorder-prod/{rid}.wav", self.telnyx_media)
        app.router.add_get("/v2/recordings/{rid}", self.telnyx_recording)
        app.router.add_delete("/v2/recordings/{rid}", self.deleted)
        app.router.add_get("/redirect", self.redirect)
        return app


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def start_fake(aiohttp_server: Any, audio: bytes) -> FakeProvider:
    fake = FakeProvider(audio)
    server = await aiohttp_server(fake.app())
    fake.base = str(server.make_url("")).rstrip("/")
    return fake


# -- senders ---------------------------------------------------------------------------------

def twilio_status_params(fake_base: str, n: int, **extra: str) -> dict[str, str]:
    sid = recording_sid(n)
    params = {"AccountSid": TWILIO_ACCOUNT, "CallSid": call_sid(n), "RecordingSid": sid,
              "RecordingUrl": f"{fake_base}/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Recordings/{sid}",
              "RecordingStatus": "completed", "RecordingDuration": "1",
              "RecordingChannels": "1", "RecordingSource": "DialVerb",
              "RecordingStartTime": format_datetime(STARTED)}
    params.update(extra)
    return params


async def post_twilio(client: Any, customer_id: Any, params: dict[str, str], *,
                      token: str = TWILIO_TOKEN, query: str = "",
                      signed_url: str | None = None) -> Any:
    path = f"/webhooks/twilio/{customer_id}" + (f"?{query}" if query else "")
    url = signed_url or str(client.make_url(path))
    signature = compute_signature(token, url, params.items())
    return await client.post(path, data=urlencode(params), headers={
        "X-Twilio-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded"})


def elks_params(fake_base: str, n: int) -> dict[str, str]:
    rid = f"c{n:031x}-r0"
    ended = (STARTED + timedelta(seconds=1.5)).replace(tzinfo=None)  # 46elks sends naive UTC
    return {"callid": f"c{n:031x}", "created": ended.isoformat(), "duration": "1",
            "wav": f"{fake_base}/a1/recordings/{rid}.wav",
            "from": CALLER, "to": CALLEE}


def telnyx_event(media_url: str | None, recording_id: str | None, *,
                 event_type: str = "call.recording.saved", **payload: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"call_leg_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
                            "call_session_id": "428c31b6-7af4-4bcb-b7f5-5013ef9657c1",
                            "channels": "single", "recording_started_at": rfc3339(STARTED)}
    if media_url:
        body["recording_urls"] = {"wav": media_url}
    if recording_id:
        body["recording_id"] = recording_id
    body.update(payload)
    return {"data": {"event_type": event_type, "id": "0ccc7b54-4df3-4bca-a65a-3da1ecc777f0",
                     "occurred_at": rfc3339(STARTED), "payload": body,
                     "record_type": "event"}, "meta": {"attempt": 1}}


def telnyx_headers(key: SigningKey, body: bytes, *, timestamp: int | None = None
                   ) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + b"|" + body).signature
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": ts, "Content-Type": "application/json"}


def telnyx_public_key(key: SigningKey) -> str:
    return base64.b64encode(bytes(key.verify_key)).decode()


# -- set-up ----------------------------------------------------------------------------------

CREDENTIALS = {
    "twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN},
    "46elks": {"username": ELKS_USER, "password": ELKS_PASSWORD},
}


async def configure(svc: Any, customer_id: Any, provider: str, *, api_base: str | None,
                    delete_after_fetch: bool = False, **credentials: str) -> Any:
    from recstore.accounts.providers import set_provider

    async with svc.pool.acquire() as conn:
        return await set_provider(conn, svc.keys, customer_id, provider,
                                  {**CREDENTIALS.get(provider, {}), **credentials},
                                  api_base=api_base, delete_after_fetch=delete_after_fetch)


def fast_settings(**overrides: Any) -> Any:
    """Worker tuning for tests: no backoff wait, short timeouts, few attempts."""
    from ingest.settings import IngestSettings

    values: dict[str, Any] = {"backoff_base_seconds": 0, "max_attempts": 3,
                              "read_timeout_seconds": 1.0, "connect_timeout_seconds": 1.0,
                              "lease_seconds": 10, "concurrency": 4}
    values.update(overrides)
    return IngestSettings(**values)


async def run_worker(svc: Any, **overrides: Any) -> int:
    from ingest.worker import Worker

    return await Worker(svc, fast_settings(**overrides)).run_until_idle()


async def job_rows(svc: Any) -> list[Any]:
    return list(await svc.pool.fetch("SELECT * FROM ingest_jobs ORDER BY created_at"))
