"""SIGTERM stops `recstore serve` and `worker` while they are still starting, even when the
object store hangs: the real stack, with S3 behind a proxy that accepts and never answers.
(The fault campaign found such processes sitting out SIGTERM for the store's timeouts.)"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import pytest
from faultproxy import FaultProxy

from recstore.services import Services
from recstore.settings import Settings


def _env(settings: Settings, s3_port: int) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "RECSTORE_DATABASE_URL": settings.database_url.get_secret_value(),
            "RECSTORE_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
            "RECSTORE_S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
            "RECSTORE_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
            "RECSTORE_S3_BUCKET": settings.s3_bucket, "RECSTORE_S3_REGION": settings.s3_region,
            "RECSTORE_MASTER_KEYS": settings.master_keys_text() or "",
            "RECSTORE_INGEST_KEYS": settings.ingest_keys_text() or "",
            "RECSTORE_STAFF_KEY_FILE": str(settings.staff_key_file),
            "RECSTORE_EPOCH_KEYS_FILE": str(settings.epoch_keys_file),
            "RECSTORE_AUDIT_KEYS_FILE": str(settings.audit_keys_path()),
            "RECSTORE_JWT_PRIVATE_KEY_FILE": str(settings.jwt_private_key_file),
            "RECSTORE_PORT": "0", "RECSTORE_LOG_LEVEL": "WARNING"}


@pytest.mark.parametrize("command", ["serve", "worker"])
async def test_sigterm_while_starting_against_a_stalled_object_store_stops_the_process(
        settings: Settings, services: Services, command: str) -> None:
    endpoint = settings.s3_endpoint.removeprefix("http://").split(":")
    s3 = FaultProxy((endpoint[0], int(endpoint[1])))
    port = await s3.start_tcp()
    await s3.set("stall")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "recstore.cli", command, env=_env(settings, port),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(600):  # bounded: until start-up has reached the stalled store
            if s3._writers or proc.returncode is not None:
                break
            await asyncio.sleep(0.1)
        assert s3._writers and proc.returncode is None, "start-up never reached the store"
        await asyncio.sleep(0.5)  # inside the bucket check, not just connected
        proc.send_signal(signal.SIGTERM)
        # The store's data-path timeouts are a minute, retried: a process waiting them out
        # would still run at the bound; one that gives way exits 0 well within it.
        rc = await asyncio.wait_for(proc.wait(), 45)
        stderr: Any = await proc.stderr.read() if proc.stderr else b""
        assert rc == 0, stderr
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await s3.set("pass")
        await s3.close()
