"""A steady, bounded stream of deliveries: signed uploads and Twilio callbacks, each one
remembered with every answer it got, so that each can be retried and checked afterwards."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import aiohttp

from faults.signer import signed_upload_headers
from ingest.twilio import compute_signature
from recstore.devstack.demo import synthetic_voicemail


@dataclass
class Delivery:
    kind: str                   # "upload" or "twilio"
    key: str                    # Idempotency-Key or RecordingSid
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)  # "201", "503", "ConnectionError", ...
    recording_id: str | None = None

    @property
    def first_ok(self) -> bool:
        return bool(self.answers) and self.answers[0].startswith("2")

    @property
    def ok(self) -> bool:
        return any(a.startswith("2") for a in self.answers)


@dataclass
class Target:
    customer_id: UUID
    webhook_secret: str
    twilio_token: str
    fake_base: str


class Load:
    def __init__(self, target: Target, ports: list[int], rng: random.Random, *,
                 twilio_share: float = 0.3, concurrency: int = 8) -> None:
        self.target = target
        self.ports = ports
        self.rng = rng
        self.twilio_share = twilio_share
        self.deliveries: list[Delivery] = []
        self._gate = asyncio.Semaphore(concurrency)
        self._n = 0

    def _next(self) -> Delivery:
        self._n += 1
        n = self._n
        if self.rng.random() < self.twilio_share:
            from provider_fakes import twilio_status_params

            params = twilio_status_params(self.target.fake_base, 10_000 + n)
            return Delivery("twilio", params["RecordingSid"], params=params)
        # Distinct audio per upload, so a mix-up between two recordings cannot pass the check.
        body = synthetic_voicemail(0.4, 200.0 + n)
        return Delivery("upload", f"faults-{n:06d}", body=body)

    async def send(self, http: aiohttp.ClientSession, delivery: Delivery) -> None:
        port = self.rng.choice(self.ports)
        base = f"http://127.0.0.1:{port}"
        try:
            if delivery.kind == "upload":
                headers = signed_upload_headers(
                    self.target.webhook_secret, self.target.customer_id, delivery.body,
                    {"Content-Type": "audio/wav", "Idempotency-Key": delivery.key,
                     "X-Recstore-Kind": "voicemail"})
                async with http.post(f"{base}/webhooks/upload/{self.target.customer_id}",
                                     data=delivery.body, headers=headers) as response:
                    text = await response.read()
                    delivery.answers.append(str(response.status))
                    if response.status in (200, 201):
                        import json

                        delivery.recording_id = json.loads(text)["id"]
            else:
                path = f"/webhooks/twilio/{self.target.customer_id}"
                signature = compute_signature(self.target.twilio_token, base + path,
                                              delivery.params.items())
                async with http.post(base + path, data=urlencode(delivery.params), headers={
                        "X-Twilio-Signature": signature,
                        "Content-Type": "application/x-www-form-urlencoded"}) as response:
                    await response.read()
                    delivery.answers.append(str(response.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.answers.append(type(exc).__name__)

    async def run(self, seconds: float, rate: float) -> None:
        """`rate` new deliveries a second for `seconds`: bounded in count and in time."""
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate) + 1
                while len(self.deliveries) < due:
                    delivery = self._next()
                    self.deliveries.append(delivery)
                    tasks.append(asyncio.create_task(self._gated(http, delivery)))
                await asyncio.sleep(0.05)
            await asyncio.gather(*tasks)

    async def _gated(self, http: aiohttp.ClientSession, delivery: Delivery) -> None:
        async with self._gate:
            await self.send(http, delivery)

    async def retry_failed(self, *, attempts: int = 20, pause: float = 1.0) -> None:
        """Every delivery whose first answer was an error, sent again until it succeeds."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for _ in range(attempts):
                failed = [d for d in self.deliveries if not d.ok]
                if not failed:
                    return
                await asyncio.gather(*(self._gated(http, d) for d in failed))
                await asyncio.sleep(pause)

    def first_answers(self) -> dict[str, int]:
        return dict(Counter(f"{d.kind} {d.answers[0]}" for d in self.deliveries if d.answers))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def summary(deliveries: list[Delivery]) -> dict[str, Any]:
    return {"deliveries": len(deliveries),
            "uploads": sum(d.kind == "upload" for d in deliveries),
            "twilio_callbacks": sum(d.kind == "twilio" for d in deliveries),
            "first_try_ok": sum(d.first_ok for d in deliveries),
            "first_try_error": sum(not d.first_ok for d in deliveries),
            "ok_after_retry": sum(d.ok and not d.first_ok for d in deliveries),
            "never_ok": sum(not d.ok for d in deliveries)}
