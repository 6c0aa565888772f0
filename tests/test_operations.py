"""Health, readiness, metrics and logs: observable without exposing anyone."""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import Any

import pytest
import structlog
from aiohttp import web

from factories import METRICS, bearer, login, make_tenant, upload, wav
from recstore.app import create_app
from recstore.logging_setup import configure
from recstore.object_store import ObjectStore
from recstore.services import Services

PII = ("+46701234567", "Anna Svensson", "admin@acme-ab.example", "0701234567")


async def test_healthz_and_readyz(client: Any) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ok", "database": True, "object_store": True}


async def test_readyz_is_503_when_the_object_store_is_unreachable(
        services: Services, aiohttp_client: Any) -> None:
    broken = ObjectStore("http://127.0.0.1:9", "a", "b", services.store.bucket, "eu-north-1")
    app = create_app(services=Services(services.settings, services.pool, broken, services.keys,
                                       services.tokens, services.metrics))
    client = await aiohttp_client(app)
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["object_store"] is False


async def test_unknown_route_and_method_are_problem_json(client: Any) -> None:
    missing = await client.get("/nope")
    assert missing.status == 404 and missing.content_type == "application/problem+json"
    wrong = await client.put("/healthz")
    assert wrong.status == 405 and wrong.content_type == "application/problem+json"


async def test_metrics_are_labelled_by_route_template_not_by_id(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    recording_id = (await (await upload(client, tenant, wav())).json())["id"]
    token = await login(client, tenant.user_email)
    await client.get(f"/api/v1/recordings/{recording_id}", headers=bearer(token))
    await client.post("/api/v1/auth/login", json={"email": tenant.user_email, "password": "x"})
    text = await (await client.get("/metrics", headers=METRICS)).text()
    assert 'route="/api/v1/recordings/{id}"' in text
    assert recording_id not in text and str(tenant.customer_id) not in text
    assert "recstore_login_failures_total 1.0" in text
    assert 'recstore_recordings_stored_total{provider="upload"} 1.0' in text


async def test_logs_carry_no_personal_data(client: Any, services: Services,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = await make_tenant(services)
    await upload(client, tenant, wav(), **{"X-Recstore-Caller": PII[0],
                                           "X-Recstore-Caller-Name": PII[1]})
    await client.post("/api/v1/auth/login", json={"email": PII[2], "password": "wrong one"})
    await upload(client, tenant, b"not audio" * 100)
    assert caplog.records, "the requests above should have logged something"
    everything = "\n".join(str(record.__dict__) for record in caplog.records)
    for value in (*PII, tenant.webhook_secret):
        assert value not in everything


def test_redaction_processor_hides_sensitive_keys() -> None:
    stream = io.StringIO()
    configure("INFO", json=True)
    root = logging.getLogger()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        structlog.get_logger("t").info("event", caller_number="+46701234567", token="abc",
                                       recording_id=str(uuid.uuid4()))
        logging.getLogger("t").warning("stdlib", extra={"email": "a@b.example"})
    finally:
        root.handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["caller_number"] == "[redacted]" and lines[0]["token"] == "[redacted]"
    assert lines[0]["recording_id"] != "[redacted]"
    assert lines[1]["email"] == "[redacted]"


async def test_openapi_served_without_auth(client: Any) -> None:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert isinstance(await response.json(), dict)


def test_app_factory_builds_without_services(settings: Any) -> None:
    app = create_app(settings)
    assert isinstance(app, web.Application)
    assert any(r.resource is not None and r.resource.canonical == "/healthz"
               for r in app.router.routes())


async def test_every_answer_carries_the_hardening_headers(client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    recording_id = (await (await upload(client, tenant, wav())).json())["id"]
    token = await login(client, tenant.user_email)
    for path, headers in (("/healthz", {}), ("/nope", {}),
                          (f"/api/v1/recordings/{recording_id}/audio", bearer(token)),
                          ("/api/v1/recordings", {})):
        response = await client.get(path, headers=headers)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Cache-Control"] in ("no-store", "private, no-store"), path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
