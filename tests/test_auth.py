"""Login and bearer tokens, tested from the attacker's side."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from factories import PASSWORD, Tenant, bearer, login, make_staff, make_tenant, upload, wav
from recstore.auth.tokens import load_private_key
from recstore.services import Services
from recstore.settings import Settings


def _claims(settings: Settings, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": str(tenant.user_id),
              "role": "customer_user", "cid": str(tenant.customer_id), "iat": now, "nbf": now,
              "exp": now + 300}
    claims.update(overrides)
    return claims


def _real_kid(services: Services, tenant: Tenant) -> str:
    token = services.tokens.issue(tenant.user_id, "customer_user", tenant.customer_id)
    return str(jwt.get_unverified_header(token)["kid"])


async def test_login_returns_a_bearer_token(client: Any, tenant: Tenant) -> None:
    response = await client.post("/api/v1/auth/login",
                                 json={"email": tenant.admin_email, "password": PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]


@pytest.mark.parametrize("email,password", [
    ("admin@acme-ab.example", "wrong password!!"),
    ("nobody@acme-ab.example", PASSWORD),
])
async def test_bad_credentials_are_401_and_counted(client: Any, services: Services,
                                                   tenant: Tenant, email: str, password: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    before = services.metrics.login_failures._value.get()
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert services.metrics.login_failures._value.get() == before + 1
    assert email not in caplog.text and password not in caplog.text


async def test_staff_can_log_in(client: Any, services: Services) -> None:
    await make_staff(services)
    token = await login(client, "support@recstore.example")
    assert jwt.decode(token, options={"verify_signature": False})["role"] == "staff"


async def test_missing_and_malformed_tokens_are_401(client: Any, tenant: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer not.a.jwt"}):
        response = await client.get("/api/v1/recordings", headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_expired_token_is_401(client: Any, services: Services, settings: Settings,
                                    tenant: Tenant) -> None:
    key = load_private_key(settings.jwt_private_key_file)
    past = int(time.time()) - 3600
    token = jwt.encode(_claims(settings, tenant, iat=past, nbf=past, exp=past + 60), key,
                       algorithm="EdDSA", headers={"kid": _real_kid(services, tenant)})
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


@pytest.mark.parametrize("claim,value", [("aud", "someone-else"), ("iss", "evil"),
                                         ("sub", str(uuid.uuid4())), ("role", "customer_admin"),
                                         ("cid", str(uuid.uuid4()))])
async def test_tokens_with_wrong_claims_are_401(client: Any, services: Services,
                                                settings: Settings, tenant: Tenant,
                                                claim: str, value: str) -> None:
    key = load_private_key(settings.jwt_private_key_file)
    token = jwt.encode(_claims(settings, tenant, **{claim: value}), key, algorithm="EdDSA",
                       headers={"kid": _real_kid(services, tenant)})
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


async def test_token_signed_by_another_key_is_401(client: Any, services: Services,
                                                  settings: Settings, tenant: Tenant) -> None:
    token = jwt.encode(_claims(settings, tenant), Ed25519PrivateKey.generate(),
                       algorithm="EdDSA", headers={"kid": _real_kid(services, tenant)})
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


async def test_alg_none_token_is_401(client: Any, services: Services, settings: Settings,
                                     tenant: Tenant) -> None:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = {"alg": "none", "typ": "JWT", "kid": _real_kid(services, tenant)}
    token = f"{b64(header)}.{b64(_claims(settings, tenant))}."
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


async def test_hs256_signed_with_the_public_key_is_401(client: Any, services: Services,
                                                       settings: Settings,
                                                       tenant: Tenant) -> None:
    """The classic algorithm-confusion attack: HMAC keyed with the public key bytes."""
    public_pem = load_private_key(settings.jwt_private_key_file).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac as hmac_module
    from hashlib import sha256

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    header = {"alg": "HS256", "typ": "JWT", "kid": _real_kid(services, tenant)}
    signing_input = (f"{b64(json.dumps(header).encode())}."
                     f"{b64(json.dumps(_claims(settings, tenant)).encode())}")
    signature = hmac_module.new(public_pem, signing_input.encode(), sha256).digest()
    token = f"{signing_input}.{b64(signature)}"
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


async def test_staff_token_on_customer_route_is_403(client: Any, services: Services,
                                                    tenant: Tenant) -> None:
    await make_staff(services)
    token = await login(client, "support@recstore.example")
    response = await client.get("/api/v1/recordings", headers=bearer(token))
    assert response.status == 403
    assert response.content_type == "application/problem+json"


async def test_other_customers_recording_is_404_like_a_missing_one(
        client: Any, services: Services, tenant: Tenant) -> None:
    other = await make_tenant(services, "Other AB")
    created = await upload(client, other, wav())
    theirs = (await created.json())["id"]
    token = await login(client, tenant.admin_email)
    for suffix in ("", "/audio"):
        foreign = await client.get(f"/api/v1/recordings/{theirs}{suffix}", headers=bearer(token))
        missing = await client.get(f"/api/v1/recordings/{uuid.uuid4()}{suffix}",
                                   headers=bearer(token))
        assert foreign.status == missing.status == 404
        assert await foreign.json() == await missing.json()
    listing = await (await client.get("/api/v1/recordings", headers=bearer(token))).json()
    assert listing["items"] == []


async def test_disabled_user_token_stops_working(client: Any, services: Services,
                                                 tenant: Tenant) -> None:
    token = await login(client, tenant.user_email)
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 200
    await services.pool.execute("UPDATE users SET disabled_at = now() WHERE id = $1",
                                tenant.user_id)
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401
