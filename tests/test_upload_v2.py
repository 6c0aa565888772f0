"""Signed upload v2 from the attacker's side, against the real stack: replays with changed
metadata, unsigned bodies, `Expect: 100-continue`, digests that do not match, malformed
signature headers. Every refusal leaves no row, no object and no pending upload."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest

from factories import Tenant, bearer, counts, login, make_tenant, upload_headers, wav
from recstore.services import Services

URL = "/webhooks/upload/{}"


async def nothing_left(services: Services) -> None:
    assert await counts(services) == (0, 0)
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0


async def post(client: Any, tenant: Tenant, body: bytes, headers: dict[str, str]) -> Any:
    return await client.post(URL.format(tenant.customer_id), data=body, headers=headers)


@pytest.mark.parametrize("forged", [
    {"Idempotency-Key": "a-new-key"},
    {"X-Recstore-Caller": "+46709999999"},
    {"X-Recstore-Caller-Name": "Someone Else"},
    {"X-Recstore-Callee": "+46811111111"},
    {"X-Recstore-Kind": "call"},
    {"X-Recstore-Recorded-At": "2026-01-01T00:00:00Z"},
    {"Content-Type": "audio/mpeg"},
])
async def test_a_captured_request_replayed_with_other_metadata_is_401(
        client: Any, services: Services, tenant: Tenant, forged: dict[str, str]) -> None:
    body = wav()
    captured = upload_headers(tenant.webhook_secret, tenant.customer_id, body,
                              **{"Idempotency-Key": "vm-1", "X-Recstore-Caller": "+46701234567"})
    assert (await post(client, tenant, body, captured)).status == 201
    replay = await post(client, tenant, body, {**captured, **forged})
    assert replay.status == 401
    assert replay.content_type == "application/problem+json"
    assert await counts(services) == (1, 1)


async def test_signature_is_bound_to_the_customer_in_the_path(
        client: Any, services: Services, tenant: Tenant) -> None:
    other = await make_tenant(services, "Other AB")
    body = wav()
    # Signed with the other customer's secret for the other customer, sent to this one.
    headers = upload_headers(other.webhook_secret, other.customer_id, body)
    assert (await post(client, tenant, body, headers)).status == 401
    await nothing_left(services)


async def test_uppercase_customer_id_in_the_path_is_the_same_customer(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    response = await client.post(URL.format(str(tenant.customer_id).upper()), data=body,
                                 headers=headers)
    assert response.status == 201, await response.text()


async def test_a_body_that_is_not_the_signed_one_is_401_and_nothing_kept(
        client: Any, services: Services, tenant: Tenant) -> None:
    signed, sent = wav(1.0, 440.0), wav(1.0, 660.0)
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, signed)
    response = await post(client, tenant, sent, headers)
    assert response.status == 401
    assert "X-Recstore-Content-SHA256" in (await response.json())["detail"]
    await nothing_left(services)


@pytest.mark.parametrize("signature", [
    "v1=" + "00" * 32,                      # version 1 is retired
    "v2=" + "00" * 32,
    "v2=" + "AB" * 32,                      # uppercase hex is not the scheme
    "v2=zz",
    "",
    "v2=" + "00" * 32 + "," * 5000,
])
async def test_bad_or_retired_signatures_are_401(
        client: Any, services: Services, tenant: Tenant, signature: str) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Signature"] = signature
    response = await post(client, tenant, body, headers)
    assert response.status == 401
    await nothing_left(services)


async def test_one_matching_value_among_several_is_enough(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Signature"] = ("v2=" + "11" * 32 + ", v1=" + "22" * 32 + ", x9=abc, "
                                       + headers["X-Recstore-Signature"])
    assert (await post(client, tenant, body, headers)).status == 201


@pytest.mark.parametrize("timestamp", ["4" * 400, "-1", "+1700000000", "1_700_000_000",
                                       " ", "1e9", "\u0661\u0667\u0660\u0660"])
async def test_malformed_timestamps_are_401_never_500(
        client: Any, services: Services, tenant: Tenant, timestamp: str) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Timestamp"] = timestamp
    response = await post(client, tenant, body, headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("digest", ["", "00", "AB" * 32, "g" * 64, "00" * 33])
async def test_malformed_content_digest_is_401(
        client: Any, services: Services, tenant: Tenant, digest: str) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers["X-Recstore-Content-SHA256"] = digest
    assert (await post(client, tenant, body, headers)).status == 401
    await nothing_left(services)


async def _raw_request(client: Any, head: bytes, body: bytes = b"",
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head + body)
    await writer.drain()
    return reader, writer


def _head(path: str, headers: dict[str, str], extra: bytes = b"") -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode() + b"\r\n" + extra + b"\r\n"


async def _status_line(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readline(), timeout=10)


async def test_an_unsigned_sender_is_refused_before_its_body_is_sent(
        client: Any, services: Services, tenant: Tenant) -> None:
    """A declared 100 MB body, none of it sent: the 401 still arrives."""
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, b"x")
    headers["X-Recstore-Signature"] = "v2=" + "00" * 32
    headers["Content-Length"] = str(100_000_000)
    reader, writer = await _raw_request(client, _head(URL.format(tenant.customer_id), headers))
    try:
        assert (await _status_line(reader)).startswith(b"HTTP/1.1 401")
    finally:
        writer.close()
    await nothing_left(services)


@pytest.mark.parametrize("tamper", ["signature", "stale", "unknown customer"])
async def test_expect_100_continue_gets_the_401_instead_of_continue(
        client: Any, services: Services, tenant: Tenant, tamper: str) -> None:
    body = wav()
    customer = tenant.customer_id
    headers = upload_headers(tenant.webhook_secret, customer, body)
    if tamper == "signature":
        headers["X-Recstore-Signature"] = "v2=" + "00" * 32
    elif tamper == "stale":
        headers = upload_headers(tenant.webhook_secret, customer, body,
                                 timestamp=int(time.time()) - 301)
    else:
        customer = "00000000-0000-4000-8000-000000000000"  # type: ignore[assignment]
    headers.update({"Content-Length": str(len(body)), "Expect": "100-continue"})
    reader, writer = await _raw_request(client, _head(URL.format(customer), headers))
    try:
        status = await _status_line(reader)
        assert status.startswith(b"HTTP/1.1 401"), status
        rest = await asyncio.wait_for(reader.read(65536), timeout=10)
        assert b"application/problem+json" in rest
        assert b"100 Continue" not in rest
    finally:
        writer.close()
    await nothing_left(services)


async def test_expect_100_continue_with_a_good_signature_continues_and_stores(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    headers.update({"Content-Length": str(len(body)), "Expect": "100-continue"})
    reader, writer = await _raw_request(client, _head(URL.format(tenant.customer_id), headers))
    try:
        assert (await _status_line(reader)).startswith(b"HTTP/1.1 100")
        assert await _status_line(reader) == b"\r\n"
        writer.write(body)
        await writer.drain()
        assert (await _status_line(reader)).startswith(b"HTTP/1.1 201")
    finally:
        writer.close()
    assert await counts(services) == (1, 1)


async def test_expect_with_an_oversized_declared_body_is_413_before_continue(
        make_settings: Any, aiohttp_client: Any) -> None:
    from recstore.app import create_app
    from recstore.services import open_services

    async with open_services(make_settings(max_upload_bytes=50_000)) as svc:
        await svc.store.ensure_bucket()
        client = await aiohttp_client(create_app(services=svc))
        tenant = await make_tenant(svc)
        headers = upload_headers(tenant.webhook_secret, tenant.customer_id, b"")
        headers.update({"Content-Length": "80000", "Expect": "100-continue"})
        reader, writer = await _raw_request(client, _head(URL.format(tenant.customer_id),
                                                          headers))
        try:
            assert (await _status_line(reader)).startswith(b"HTTP/1.1 413")
        finally:
            writer.close()


async def test_a_signed_header_sent_twice_is_401(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body,
                             **{"X-Recstore-Caller": "+46701234567"})
    head = _head(URL.format(tenant.customer_id), {**headers, "Content-Length": str(len(body))},
                 extra=b"X-Recstore-Caller: +46709999999\r\n")
    reader, writer = await _raw_request(client, head, body)
    try:
        assert (await _status_line(reader)).startswith(b"HTTP/1.1 401")
    finally:
        writer.close()
    await nothing_left(services)


async def test_a_signed_caller_that_is_not_utf8_is_422_never_500(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    raw_caller = b"\xff\xfe+4670"
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body,
                             **{"X-Recstore-Caller": raw_caller.decode("utf-8",
                                                                       "surrogateescape")})
    caller_line = b"X-Recstore-Caller: " + raw_caller + b"\r\n"
    del headers["X-Recstore-Caller"]
    head = _head(URL.format(tenant.customer_id), {**headers, "Content-Length": str(len(body))},
                 extra=caller_line)
    reader, writer = await _raw_request(client, head, body)
    try:
        status = await _status_line(reader)
        assert status.startswith(b"HTTP/1.1 422"), status
        assert b"UTF-8" in await asyncio.wait_for(reader.read(65536), timeout=10)
    finally:
        writer.close()
    await nothing_left(services)


async def test_replay_of_the_same_signed_request_answers_200_without_a_second_copy(
        client: Any, services: Services, tenant: Tenant) -> None:
    body = wav()
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body,
                             **{"X-Recstore-Caller": "+46701234567"})
    first = await post(client, tenant, body, headers)
    again = await post(client, tenant, body, headers)
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["id"] == (await again.json())["id"]
    assert await counts(services) == (1, 1)
    token = await login(client, tenant.user_email)
    listed = await (await client.get("/api/v1/recordings", headers=bearer(token))).json()
    assert [item["caller_number"] for item in listed["items"]] == ["+46701234567"]
    assert hashlib.sha256(body).hexdigest() == headers["X-Recstore-Content-SHA256"]
