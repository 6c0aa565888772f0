"""Settings for a benchmark's embedded stack: what every bench here needs, in one place."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp

from crypto import MasterKeyring
from recstore.accounts.customers import CreatedCustomer, create_customer, create_user
from recstore.auth.tokens import generate_private_key_file
from recstore.custody.staff_key import generate_staff_key_file
from recstore.devstack.stack import StackInfo
from recstore.services import Services
from recstore.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


METRICS_TOKEN = "bench-metrics-token"  # /metrics on the API port needs it
METRICS_HEADERS = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def bench_settings(info: StackInfo, work: Path, **overrides: Any) -> Settings:
    """Settings pointing at `info`, with a fresh master key and key files under `work`."""
    jwt_key = work / "jwt.pem"
    if not jwt_key.exists():
        generate_private_key_file(jwt_key)
    staff_key = work / "staff.key"
    generate_staff_key_file(staff_key)
    values: dict[str, Any] = {
        "database_url": info.database_url, "s3_endpoint": info.s3_endpoint,
        "s3_access_key": info.s3_access_key, "s3_secret_key": info.s3_secret_key,
        "master_keys": MasterKeyring.generate_entry("bench"),
        "epoch_keys_file": work / "epochs.json", "jwt_private_key_file": jwt_key,
        "metrics_token": METRICS_TOKEN,
        "ingest_keys": MasterKeyring.generate_entry("bench-ingest"), "staff_key_file": staff_key,
    }
    values.update(overrides)
    return Settings.model_validate(values)


async def customer_with_admin(svc: Services, name: str, slug: str
                              ) -> tuple[CreatedCustomer, UUID, str]:
    """A bench customer, its admin's user id and a token of that admin."""
    async with svc.pool.acquire() as conn:
        created = await create_customer(conn, svc.keys, name=name, email=f"{slug}@bench.example")
        admin = await create_user(conn, customer_id=created.customer_id,
                                  email=f"admin@{slug}.example", password="bench password 123",
                                  role="customer_admin")
    return created, admin, svc.tokens.issue(admin, "customer_admin", created.customer_id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wav_header(data_bytes: int) -> bytes:
    """PCM, mono, 16-bit, 8 kHz."""
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt "
            + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes))


MiB = 1 << 20
_SILENCE = bytes(MiB)


async def silent_wav(total: int) -> AsyncIterator[bytes]:
    """A valid WAV of `total` bytes: its header, then silence, in 1 MiB pieces."""
    header = wav_header(total - 44)
    yield header
    left = total - len(header)
    while left:
        take = min(MiB, left)
        yield _SILENCE if take == MiB else _SILENCE[:take]
        left -= take


def serve_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RECSTORE_PORT": str(port), "RECSTORE_LOG_LEVEL": "WARNING", **extra}
    for name, value in settings.model_dump().items():
        if value is not None and name not in ("port", "log_level"):
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[f"RECSTORE_{name.upper()}"] = str(raw)
    return env


async def until_healthy(process: asyncio.subprocess.Process, port: int, what: str
                        ) -> asyncio.subprocess.Process:
    """`process` once http://127.0.0.1:`port`/healthz answers 200 (30 s at most)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return process
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    process.terminate()
    await process.wait()
    raise RuntimeError(f"{what} did not come up")


async def serve(settings: Settings, port: int, *args: str,
                **extra: str) -> asyncio.subprocess.Process:
    """`recstore serve` as a separate process, once /healthz answers."""
    process = await asyncio.create_subprocess_exec(str(ROOT / ".venv/bin/recstore"), "serve",
                                                   *args, env=serve_env(settings, port, **extra))
    return await until_healthy(process, port, "recstore serve")
