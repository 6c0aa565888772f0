"""Small builders shared by the tests: customers, users, tokens, signed uploads, audio."""

from __future__ import annotations

import hashlib
import io
import math
import struct
import time
import wave
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import ingest.receive
import ingest.upload
from ingest.upload_signature import signed_headers
from recstore.accounts.customers import create_customer, create_staff, create_user
from recstore.devstack.demo import synthetic_voicemail
from recstore.services import Services

PASSWORD = "correct horse battery staple"
METRICS_TOKEN = "metrics-token-for-tests"
METRICS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


class _StoppedTime:
    """The `time` module as the webhook code sees it, with time.time() stopped."""

    def __init__(self, at: int) -> None:
        self.at = at

    def time(self) -> float:
        return float(self.at)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def stop_webhook_clock(monkeypatch: Any) -> int:
    """Stop the clock the webhooks check signature timestamps against, at a whole second, and
    return it: a timestamp 301 s off is then 301 s off however long the request takes."""
    stopped = _StoppedTime(int(time.time()))
    for module in (ingest.upload, ingest.receive):
        monkeypatch.setattr(module, "time", stopped)
    return stopped.at


@dataclass
class Tenant:
    customer_id: UUID
    webhook_secret: str
    admin_email: str
    admin_id: UUID
    user_email: str
    user_id: UUID


async def make_tenant(svc: Services, name: str = "Acme AB", retention_days: int = 90) -> Tenant:
    slug = name.lower().replace(" ", "-")
    async with svc.pool.acquire() as conn:
        created = await create_customer(conn, svc.keys, name=name, email=f"owner@{slug}.example",
                                        retention_days=retention_days)
        admin_email, user_email = f"admin@{slug}.example", f"user@{slug}.example"
        admin_id = await create_user(conn, customer_id=created.customer_id, email=admin_email,
                                     password=PASSWORD, role="customer_admin")
        user_id = await create_user(conn, customer_id=created.customer_id, email=user_email,
                                    password=PASSWORD, role="customer_user")
    return Tenant(created.customer_id, created.webhook_secret, admin_email, admin_id,
                  user_email, user_id)


async def make_staff(svc: Services, email: str = "support@recstore.example") -> UUID:
    async with svc.pool.acquire() as conn:
        return await create_staff(conn, email=email, password=PASSWORD)


def wav(seconds: float = 1.0, frequency: float = 440.0) -> bytes:
    return synthetic_voicemail(seconds, frequency)


def big_wav(seconds: int) -> bytes:
    """44.1 kHz stereo, so a few seconds outgrow every socket buffer between the two ends."""
    frames = b"".join(struct.pack("<hh", int(9000 * math.sin(i / 20)), 0) for i in range(4410))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(frames * 10 * seconds)
    return out.getvalue()


def upload_headers(secret: str, customer_id: UUID | str, body: bytes, *,
                   timestamp: int | None = None, content_type: str = "audio/wav",
                   body_sha256: str | None = None, **extra: str) -> dict[str, str]:
    """Signed upload (v2) headers; `extra` metadata headers are signed too. A streamed body
    passes its `body_sha256` (and any `body`)."""
    return signed_headers(secret, UUID(str(customer_id)),
                          body_sha256=body_sha256 or hashlib.sha256(body).hexdigest(),
                          timestamp=int(time.time()) if timestamp is None else timestamp,
                          headers={"Content-Type": content_type, **extra})


async def upload(client: Any, tenant: Tenant, body: bytes, **extra: str) -> Any:
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body, **extra)
    return await client.post(f"/webhooks/upload/{tenant.customer_id}", data=io.BytesIO(body),
                             headers=headers)


async def login(client: Any, email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    token: str = (await response.json())["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
async def counts(svc: Services) -> tuple[int, int]:
    """(rows in recordings, objects in the bucket): both must agree after every request."""
    rows = await svc.pool.fetchval("SELECT count(*) FROM recordings")
    objects = len(await svc.store.list_keys())
    return rows, objects


def token_headers(svc: Services, user_id: UUID, role: str,
                  customer_id: UUID | None = None) -> dict[str, str]:
    """A bearer header minted directly (no Argon2id login), for tests with many actors."""
    return bearer(svc.tokens.issue(user_id, role, customer_id))


async def audit_actions(svc: Services, customer_id: UUID) -> list[dict[str, Any]]:
    """The customer's audit entries, oldest first, as plain dicts."""
    rows = await svc.pool.fetch("SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY seq",
                                customer_id)
    return [dict(row) for row in rows]


async def insert_recordings(svc: Services, customer_id: UUID, *, count: int, recorded_at: Any,
                            expires_at: Any = None, object_every: int = 1,
                            epoch: str | None = None) -> list[tuple[UUID, str]]:
    """`count` recording rows straight into SQL (no audio, no crypto: fast), and a tiny object
    for every `object_every`-th (0: none). Returns (id, object_key) pairs. The rows' customer
    key is random bytes: these recordings are for deleting, never for reading."""
    import asyncio
    import os
    import uuid
    from datetime import timedelta

    from crypto import epoch_of

    epoch = epoch or epoch_of(recorded_at)
    expires_at = expires_at or recorded_at + timedelta(days=90)
    await svc.pool.execute(
        "INSERT INTO customer_keys (customer_id, epoch, public_key, wrapped_private_key)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        customer_id, epoch, os.urandom(32), os.urandom(73))
    made = [(rid, f"recordings/{customer_id}/{rid}") for rid in (uuid.uuid4() for _ in range(count))]
    await svc.pool.copy_records_to_table(
        "recordings", columns=["id", "customer_id", "kind", "provider", "epoch", "recorded_at",
                               "expires_at", "content_type", "size_bytes", "sha256",
                               "object_key", "sealed_data_key"],
        records=[(rid, customer_id, "voicemail", "test", epoch, recorded_at, expires_at,
                  "audio/wav", 16, bytes(32), key, os.urandom(80)) for rid, key in made])
    gate = asyncio.Semaphore(8)

    async def put(key: str) -> None:
        async def body() -> Any:
            yield b"0123456789abcdef"

        async with gate:
            await svc.store.put_stream(key, body())

    if object_every:
        await asyncio.gather(*(put(key) for _, key in made[::object_every]))
    return made
