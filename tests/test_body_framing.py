"""Request bodies are read until complete, however the client's TCP segments fall, and are
bounded by size and time; over a real socket against the real stack."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from provider_fakes import TWILIO_TOKEN, configure, job_rows, twilio_status_params
from rawhttp import exchange, request_head

from factories import PASSWORD, Tenant
from ingest.twilio import compute_signature
from recstore.services import Services


def _split(data: bytes) -> list[bytes]:
    half = len(data) // 2
    return [data[:half], data[half:]]


async def test_a_login_body_in_two_segments_logs_in(client: Any, tenant: Tenant) -> None:
    body = json.dumps({"email": tenant.admin_email, "password": PASSWORD}).encode()
    head = request_head("POST", "/api/v1/auth/login", {
        "Content-Type": "application/json", "Content-Length": str(len(body))})
    answer = await exchange(client.server.host, client.server.port, [head, *_split(body)])
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["token_type"] == "Bearer"


async def test_a_split_twilio_callback_is_accepted_and_queued(
        client: Any, services: Services, tenant: Tenant) -> None:
    await configure(services, tenant.customer_id, "twilio", api_base="http://127.0.0.1:9")
    path = f"/webhooks/twilio/{tenant.customer_id}"
    params = twilio_status_params("https://api.twilio.com", 1)
    body = urlencode(params).encode()
    url = f"http://{client.server.host}:{client.server.port}{path}"
    head = request_head("POST", path, {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(body)),
        "X-Twilio-Signature": compute_signature(TWILIO_TOKEN, url, params.items())},
        host=f"{client.server.host}:{client.server.port}")
    answer = await exchange(client.server.host, client.server.port, [head, *_split(body)])
    assert answer.status == 204, answer.body
    assert len(await job_rows(services)) == 1


async def test_a_body_that_never_completes_is_408_not_a_hang(
        client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.parsing

    monkeypatch.setattr(api.parsing, "BODY_SECONDS", 0.5)
    head = request_head("POST", "/api/v1/auth/login", {
        "Content-Type": "application/json", "Content-Length": "100"})
    answer = await exchange(client.server.host, client.server.port, [head, b'{"email": '])
    assert answer.status == 408
    assert b"application/problem+json" in answer.head


async def test_a_chunked_body_over_the_limit_is_refused(client: Any, tenant: Tenant) -> None:
    piece = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(10)) + b"0\r\n\r\n"
    head = request_head("POST", "/api/v1/auth/login", {
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    answer = await exchange(client.server.host, client.server.port, [head, chunks])
    assert answer.status == 413
    assert b"over" in answer.body


async def test_an_upload_that_stalls_mid_body_is_dropped_and_nothing_kept(
        client: Any, services: Services, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.webhooks
    from factories import counts, upload_headers, wav

    monkeypatch.setattr(api.webhooks, "UPLOAD_IDLE_SECONDS", 0.5)
    body = wav(2.0)
    headers = upload_headers(tenant.webhook_secret, tenant.customer_id, body)
    head = request_head("POST", f"/webhooks/upload/{tenant.customer_id}",
                        {**headers, "Content-Length": str(len(body))})
    answer = await exchange(client.server.host, client.server.port, [head, body[:20_000]])
    assert answer.status == 408
    assert await counts(services) == (0, 0)
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0


async def test_a_portal_form_that_never_completes_is_408(
        client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.parsing

    monkeypatch.setattr(api.parsing, "BODY_SECONDS", 0.5)
    head = request_head("POST", "/login", {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "200"})
    answer = await exchange(client.server.host, client.server.port, [head, b"email=a%40b"])
    assert answer.status == 408
