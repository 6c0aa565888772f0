"""Hostile input that used to end in a 500: each is a clear 4xx problem+json now, against the
real stack."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from nacl.signing import SigningKey
from provider_fakes import configure, telnyx_public_key

from factories import Tenant, bearer
from recstore.services import Services


def _signed_token(services: Services, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": services.tokens.issuer, "aud": services.tokens.audience,
            "sub": "6a7c2c5e-2b8f-4c1e-9d55-3b7f0e4f4a11", "role": "customer_admin",
            "iat": now, "nbf": now, "exp": now + 300}
    return jwt.encode({**base, **claims}, services.tokens._private_key, algorithm="EdDSA",
                      headers={"kid": services.tokens._kid})


@pytest.mark.parametrize("claims", [
    {"cid": 12345}, {"cid": ["a"]}, {"cid": {"x": 1}}, {"cid": True},
    {"sub": 7}, {"role": 1}, {"role": None}, {"iat": "soon"},
])
async def test_a_validly_signed_token_with_mistyped_claims_is_401(
        client: Any, services: Services, tenant: Tenant, claims: dict[str, Any]) -> None:
    token = _signed_token(services, **{"cid": str(tenant.customer_id), **claims})
    response = await client.get("/api/v1/recordings", headers=bearer(token))
    assert response.status == 401
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("timestamp", ["4" * 400, "-" + "9" * 30, "1e999", "\u0661\u0662"])
async def test_a_telnyx_event_with_a_monstrous_timestamp_is_403(
        client: Any, services: Services, tenant: Tenant, timestamp: str) -> None:
    key = SigningKey.generate()
    await configure(services, tenant.customer_id, "telnyx", api_base=None,
                    public_key=telnyx_public_key(key), api_key="KEY")
    body = json.dumps({"data": {"event_type": "call.recording.saved"}}).encode()
    signature = key.sign(timestamp.encode() + b"|" + body).signature
    response = await client.post(f"/webhooks/telnyx/{tenant.customer_id}", data=body, headers={
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": timestamp, "Content-Type": "application/json"})
    assert response.status == 403
    assert response.content_type == "application/problem+json"


async def test_failed_login_logs_a_keyed_tag_that_a_guess_cannot_confirm(
        client: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    import hashlib
    import logging

    caplog.set_level(logging.WARNING, logger="recstore.auth")
    for _ in range(2):
        response = await client.post("/api/v1/auth/login", json={
            "email": tenant.admin_email, "password": "wrong password"})
        assert response.status == 401
    tags = [r.__dict__["email_tag"] for r in caplog.records if r.getMessage() == "login failed"]
    assert len(tags) == 2 and tags[0] == tags[1]  # stable: failures of one account correlate
    guessed = tenant.admin_email.encode()
    assert tags[0] != hashlib.blake2b(guessed, digest_size=6).hexdigest()
    assert all(tenant.admin_email not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("patch", [{"delete_provider_copy": "yes"}, {"delete_provider_copy": 0},
                                   {"delete_provider_copy": 1}, {"delete_provider_copy": "true"},
                                   {"retention_days": "30"}, {"retention_days": True},
                                   {"retention_days": 30.5}])
async def test_settings_take_only_real_booleans_and_integers(
        client: Any, services: Services, tenant: Tenant, patch: dict[str, Any]) -> None:
    admin = _admin(services, tenant)
    before = await (await client.get("/api/v1/settings", headers=admin)).json()
    response = await client.patch("/api/v1/settings", json=patch, headers=admin)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    assert await (await client.get("/api/v1/settings", headers=admin)).json() == before
    ok = await client.patch("/api/v1/settings", json={"delete_provider_copy": True},
                            headers=admin)
    assert ok.status == 200 and (await ok.json())["delete_provider_copy"] is True


def _admin(services: Services, tenant: Tenant) -> dict[str, str]:
    from factories import token_headers

    return token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)


@pytest.mark.parametrize("value", ["bytes=-0", "bytes=-000", "bytes= -0"])
async def test_an_empty_suffix_range_is_416(
        client: Any, services: Services, tenant: Tenant, value: str) -> None:
    from factories import upload, wav

    body = wav()
    recording_id = (await (await upload(client, tenant, body)).json())["id"]
    response = await client.get(f"/api/v1/recordings/{recording_id}/audio",
                                headers={**_admin(services, tenant), "Range": value})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(body)}"


def _openapi_parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    [found] = [p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name]
    schema: dict[str, Any] = found["schema"]
    string = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "string"), {})
    return {**schema, **string}  # "pattern" may sit beside the anyOf: it binds strings alike


def _matching(pattern: str, alphabet: str, lengths: list[int]) -> list[str]:
    import random
    import re

    rng = random.Random(12)
    values = ["".join(rng.choice(alphabet) for _ in range(n)) for n in lengths for _ in range(4)]
    values += [alphabet[0] * n for n in lengths] + [alphabet[-1] * n for n in lengths]
    return [v for v in values if re.fullmatch(pattern, v)]


async def test_every_cursor_the_openapi_document_allows_is_accepted(
        client: Any, services: Services, tenant: Tenant) -> None:
    """Values drawn from the document's own patterns: none may be refused."""
    from urllib.parse import quote

    document = await (await client.get("/api/openapi.json")).json()
    admin = _admin(services, tenant)
    b64 = "ABCXYZabcxyz0189-_"
    for path in ("/api/v1/recordings", "/api/v1/grants"):
        pattern = _openapi_parameter(document, path, "cursor")["pattern"]
        values = _matching(pattern, b64, [32])
        assert values and not _matching(pattern, b64, [31, 33, 44])
        for cursor in values:
            response = await client.get(f"{path}?cursor={quote(cursor)}", headers=admin)
            assert response.status == 200, (path, cursor, await response.text())
    pattern = _openapi_parameter(document, "/api/v1/access-log", "cursor")["pattern"]
    for cursor in _matching(pattern, "0123456789", [1, 5, 18]):
        response = await client.get(f"/api/v1/access-log?cursor={cursor}", headers=admin)
        assert response.status == 200, cursor
    pattern = _openapi_parameter(document, "/api/v1/recordings", "caller")["pattern"]
    for digits in _matching(r"[1-9][0-9]{6,14}", "0123456789", [7, 11, 15]):
        response = await client.get(f"/api/v1/recordings?caller={quote('+' + digits)}",
                                    headers=admin)
        assert response.status == 200, digits


async def test_a_cursor_is_a_real_position_after_the_format_change(
        client: Any, services: Services, tenant: Tenant) -> None:
    from factories import upload, wav

    ids = [(await (await upload(client, tenant, wav(0.2, 300.0 + n))).json())["id"]
           for n in range(3)]
    admin = _admin(services, tenant)
    first = await (await client.get("/api/v1/recordings?limit=2", headers=admin)).json()
    rest = await (await client.get(f"/api/v1/recordings?limit=2&cursor={first['next_cursor']}",
                                   headers=admin)).json()
    seen = [i["id"] for i in first["items"]] + [i["id"] for i in rest["items"]]
    assert sorted(seen) == sorted(ids) and rest["next_cursor"] is None


async def test_the_grant_body_documents_recording_ids_or_all(client: Any) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    body = document["paths"]["/api/v1/grants"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = document["components"]["schemas"][ref]
    assert "recording_ids" in schema["description"] and len(schema["oneOf"]) == 2
