"""`recstore up --demo`: a demo customer, an admin login and two synthetic voicemails, seeded
once into an empty data dir. Development only: no production command calls this."""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from pydub.generators import Sine

from recstore.accounts.customers import create_customer, create_user
from recstore.recordings.store import IncomingRecording, store_recording
from recstore.services import Services

DEMO_EMAIL = "admin@demo.example"


def synthetic_voicemail(seconds: float, frequency: float) -> bytes:
    tone = Sine(frequency).to_audio_segment(duration=int(seconds * 1000)).set_frame_rate(8000)
    out = io.BytesIO()
    tone.set_channels(1).set_sample_width(2).export(out, format="wav")
    return out.getvalue()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _instructions(record: dict[str, str], data_dir: Path) -> str:
    """The banner `recstore up --demo` prints; `{url}` is filled in once the server listens.
    Built by concatenation, not as an f-string, so the JSON's braces come out single."""
    login = json.dumps({"email": record["email"], "password": record["password"]})
    customer = record["customer_id"]
    return (
        f"\nDemo customer {customer}\n"
        f"  portal:   open {{url}}/ in a browser; email {record['email']},"
        f" password {record['password']}\n"
        "  log in:   curl -s {url}/api/v1/auth/login -H 'Content-Type: application/json' \\\n"
        f"              -d '{login}'\n"
        "  upload a signed voicemail (any WAV/MP3 file; signing by hand: README's walkthrough):\n"
        f"    .venv/bin/recstore upload voicemail.wav --customer {customer} --data-dir {data_dir} \\\n"
        "      --caller +46701234567\n"
    )


async def _recorded_demo(svc: Services, record_path: Path) -> dict[str, str] | None:
    """The demo seeded earlier, unless its customer has since been erased (its login and
    webhook secret then no longer work, so they must not be shown again)."""
    if not record_path.exists():
        return None
    record: dict[str, str] = json.loads(record_path.read_text())
    live = await svc.pool.fetchval("SELECT erased_at IS NULL FROM customers WHERE id = $1",
                                   UUID(record["customer_id"]))
    if live:
        return record
    record_path.unlink()
    return None


async def seed_demo(svc: Services, data_dir: Path) -> str:
    """Seeds on first use; later runs print the same login. If the demo customer was erased
    meanwhile, a new one is seeded. Returns the text to show."""
    record_path = data_dir / "demo.json"
    if (record := await _recorded_demo(svc, record_path)) is not None:
        return _instructions(record, data_dir)
    async with svc.pool.acquire() as conn:
        if await conn.fetchval("SELECT count(*) FROM customers WHERE erased_at IS NULL") > 0:
            return "(--demo ignored: this data dir already has customers)"
        # An erased demo's admin keeps its email until the erasure worker scrubs it.
        email = DEMO_EMAIL
        if await conn.fetchval("SELECT 1 FROM users WHERE lower(email) = $1", email):
            email = f"admin-{secrets.token_hex(3)}@demo.example"
        created = await create_customer(conn, svc.keys, name="Demo AB", email=email,
                                        retention_days=30)
        password = secrets.token_urlsafe(12)
        await create_user(conn, customer_id=created.customer_id, email=email,
                          password=password, role="customer_admin")
    now = datetime.now(UTC)
    for minutes_ago, seconds, caller, frequency in ((90, 4.0, "+46701234567", 440.0),
                                                    (15, 2.5, "070-765 43 21", 660.0)):
        incoming = IncomingRecording(
            customer_id=created.customer_id, provider="demo", kind="voicemail",
            provider_recording_id=f"demo-{minutes_ago}",
            recorded_at=now - timedelta(minutes=minutes_ago), caller_number=caller,
            caller_name="Demo Caller", callee_number="+46812345678")
        await store_recording(svc.pool, svc.store, svc.keys, incoming,
                              _once(synthetic_voicemail(seconds, frequency)),
                              max_bytes=svc.settings.max_upload_bytes)
    record = {"customer_id": str(created.customer_id), "email": email,
              "password": password, "webhook_secret": created.webhook_secret}
    fd = os.open(record_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(record, out)
    return _instructions(record, data_dir)
