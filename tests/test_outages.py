"""Outages of the real PostgreSQL and S3, injected by a proxy in front of them: the API
answers 503 with Retry-After (never 500), /readyz answers instead of hanging, a failed upload
leaves no object and no pending entry once the outage is over, and every request refused
during the outage succeeds when retried."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from aiohttp import ClientTimeout, web
from aiohttp.test_utils import TestClient
from faultproxy import FaultProxy
from pydantic import SecretStr

from factories import PASSWORD, Tenant, counts, make_tenant, upload, wav
from recstore.app import create_app
from recstore.object_store import PART_SIZE, ObjectStoreError
from recstore.recordings import cleanup
from recstore.recordings.store import object_key_for
from recstore.services import Services, open_services
from recstore.settings import Settings


@dataclass
class Faulty:
    svc: Services
    client: TestClient[Any, web.Application]
    database: FaultProxy
    s3: FaultProxy
    tenant: Tenant


@pytest.fixture
async def faulty(settings: Settings, services: Services, aiohttp_client: Any
                 ) -> AsyncIterator[Faulty]:
    """Services whose database and object store are reached through fault proxies."""
    dsn = urlsplit(settings.database_url.get_secret_value())
    query = parse_qs(dsn.query)
    socket_dir, port = Path(query["host"][0]), query.get("port", ["5432"])[0]
    short = Path(tempfile.mkdtemp(prefix="rs-proxy-"))  # Unix socket paths are short
    database = FaultProxy(socket_dir / f".s.PGSQL.{port}")
    await database.start_unix(short / f".s.PGSQL.{port}")
    endpoint = urlsplit(settings.s3_endpoint)
    s3 = FaultProxy((endpoint.hostname or "127.0.0.1", endpoint.port or 80))
    s3_port = await s3.start_tcp()
    proxied = settings.model_copy(update={
        "database_url": SecretStr(
            f"postgresql://postgres@{dsn.path}?host={quote(str(short), safe='/')}&port={port}"),
        "s3_endpoint": f"http://127.0.0.1:{s3_port}"})
    tenant = await make_tenant(services)
    try:
        async with open_services(proxied, pool_size=4) as svc:
            client: TestClient[Any, web.Application] = await aiohttp_client(
                create_app(services=svc))
            yield Faulty(svc, client, database, s3, tenant)
            await cleanup.wait_for_cleanups()
    finally:
        await database.close()
        await s3.close()
        shutil.rmtree(short, ignore_errors=True)


async def pending(svc: Services) -> int:
    found: int = await svc.pool.fetchval("SELECT count(*) FROM pending_uploads")
    return found


async def assert_unavailable(response: Any) -> None:
    assert response.status == 503, await response.text()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert int(response.headers["Retry-After"]) > 0
    assert (await response.json())["status"] == 503


async def test_database_down_is_503_with_retry_after_and_the_retry_succeeds(
        faulty: Faulty, services: Services) -> None:
    body = wav(0.5)
    await faulty.database.set("down")
    await assert_unavailable(await upload(faulty.client, faulty.tenant, body,
                                          **{"Idempotency-Key": "during-outage"}))
    await assert_unavailable(await faulty.client.post("/api/v1/auth/login", json={
        "email": faulty.tenant.user_email, "password": PASSWORD}))
    ready = await faulty.client.get("/readyz")
    assert ready.status == 503 and (await ready.json())["database"] is False

    await faulty.database.set("pass")
    retried = await upload(faulty.client, faulty.tenant, body,
                           **{"Idempotency-Key": "during-outage"})
    assert retried.status == 201, await retried.text()
    assert await counts(services) == (1, 1)
    assert await pending(services) == 0
    assert (await faulty.client.get("/readyz")).status == 200


async def test_object_store_down_is_503_and_leaves_nothing_behind(
        faulty: Faulty, services: Services) -> None:
    body = wav(0.5)
    await faulty.s3.set("down")
    await assert_unavailable(await upload(faulty.client, faulty.tenant, body))
    await faulty.s3.set("pass")
    await cleanup.wait_for_cleanups()
    assert await counts(services) == (0, 0)
    assert await pending(services) == 0
    assert (await upload(faulty.client, faulty.tenant, body)).status == 201
    assert await counts(services) == (1, 1)


async def test_readyz_answers_503_while_the_object_store_stalls(faulty: Faulty) -> None:
    await faulty.s3.set("stall")
    # Without its own short timeout the probe would hang for the data path's minute.
    answers = await asyncio.gather(*(
        faulty.client.get("/readyz", timeout=ClientTimeout(total=5)) for _ in range(3)))
    for ready in answers:
        assert ready.status == 503
        assert await ready.json() == {"status": "unavailable", "database": True,
                                      "object_store": False}
    await faulty.s3.set("pass")
    assert (await faulty.client.get("/readyz")).status == 200


async def test_a_failed_cleanup_is_finished_once_the_store_is_back(
        faulty: Faulty, services: Services) -> None:
    key = object_key_for(faulty.tenant.customer_id, faulty.tenant.admin_id)

    async def pieces() -> AsyncIterator[bytes]:
        yield b"half of an upload"

    await services.pool.execute(
        "INSERT INTO pending_uploads (object_key, customer_id) VALUES ($1, $2)",
        key, faulty.tenant.customer_id)
    await services.store.put_stream(key, pieces())
    await faulty.s3.set("down")
    await cleanup.discard(faulty.svc.pool, faulty.svc.store, key)  # does not raise
    assert cleanup.pending_cleanups() == 1
    assert await pending(services) == 1 and await services.store.list_keys() == [key]

    await faulty.s3.set("pass")
    await cleanup.wait_for_cleanups()
    assert await pending(services) == 0
    assert await services.store.list_keys() == []



async def test_a_multipart_upload_cut_by_an_outage_leaves_no_parts(
        faulty: Faulty, services: Services) -> None:
    key = object_key_for(faulty.tenant.customer_id, faulty.tenant.user_id)

    async def pieces() -> AsyncIterator[bytes]:
        yield bytes(PART_SIZE + 1)   # the first part goes up ...
        await asyncio.sleep(1.0)
        await faulty.s3.set("down")  # ... then the store dies: the abort cannot reach it
        yield b"the rest"

    with pytest.raises(ObjectStoreError):
        await faulty.svc.store.put_stream(key, pieces())
    await faulty.s3.set("pass")
    assert await open_uploads(services, key) == 1  # parts left behind by the failed abort

    await faulty.s3.set("down")
    await cleanup.discard(faulty.svc.pool, faulty.svc.store, key)
    await faulty.s3.set("pass")
    await cleanup.wait_for_cleanups()
    assert await open_uploads(services, key) == 0
    assert await services.store.list_keys() == []


async def open_uploads(svc: Services, key: str) -> int:
    def count() -> int:
        client = svc.store._client
        return sum(u.object_name == key for u in
                   client._list_multipart_uploads(svc.store.bucket, prefix=key).uploads)

    return await asyncio.to_thread(count)
