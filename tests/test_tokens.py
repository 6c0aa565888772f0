"""Token hardening: signing-key rotation, an external identity provider (JWKS on loopback),
and the audit trail of refused credentials."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from factories import Tenant, bearer, login
from recstore.app import create_app
from recstore.auth.jwks import JwksVerifier, external_user_id
from recstore.auth.tokens import (
    generate_private_key_file,
    load_private_key,
    load_public_keys,
    public_key_pem,
)
from recstore.cli.main import main as cli_main
from recstore.services import Services, open_services

ISSUER, AUDIENCE = "https://idp.example", "recstore-portal"


async def _client_for(make_settings: Any, aiohttp_client: Any, **overrides: Any
                      ) -> AsyncIterator[Any]:
    async with open_services(make_settings(**overrides), pool_size=3) as svc:
        yield await aiohttp_client(create_app(services=svc))


async def test_tokens_of_a_retired_key_verify_until_they_expire(
        client: Any, services: Services, tenant: Tenant, make_settings: Any,
        aiohttp_client: Any, tmp_path: Path) -> None:
    old_token = services.tokens.issue(tenant.user_id, "customer_user", tenant.customer_id)
    new_key = tmp_path / "jwt-new.pem"
    generate_private_key_file(new_key)
    previous = tmp_path / "jwt-previous.pem"
    old_public = load_private_key(services.settings.jwt_private_key_file).public_key()
    previous.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key())
                         + public_key_pem(old_public))

    async for rotated in _client_for(make_settings, aiohttp_client, jwt_private_key_file=new_key,
                                     jwt_previous_public_keys_file=previous):
        assert (await rotated.get("/api/v1/recordings", headers=bearer(old_token))).status == 200
        new_token = await login(rotated, tenant.user_email)
        assert jwt.get_unverified_header(new_token)["kid"] != \
            jwt.get_unverified_header(old_token)["kid"]
        assert (await rotated.get("/api/v1/recordings", headers=bearer(new_token))).status == 200
        # A forgery that borrows the retired key's id is still a forgery.
        claims = jwt.decode(old_token, options={"verify_signature": False})
        forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                            headers={"kid": jwt.get_unverified_header(old_token)["kid"]})
        assert (await rotated.get("/api/v1/recordings", headers=bearer(forged))).status == 401

    async for retired in _client_for(make_settings, aiohttp_client, jwt_private_key_file=new_key):
        assert (await retired.get("/api/v1/recordings", headers=bearer(old_token))).status == 401


class IdP:
    """An identity provider on loopback: an RSA key published as a JWKS."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "idp-key-1"
        self.fetches = 0

    async def jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        secret = base64.urlsafe_b64encode(b"shared-secret").decode().rstrip("=")
        return web.json_response({"keys": [
            {**public, "kid": self.kid, "alg": "RS256", "use": "sig"},
            {"kty": "oct", "k": secret, "kid": "hmac-key", "alg": "HS256"}]})

    def token(self, tenant: Tenant, role: str = "customer_user", **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "anna@idp", "iat": now, "exp": now + 300,
                  "recstore_customer_id": str(tenant.customer_id), "recstore_role": role}
        claims.update(overrides)
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.key,
                          algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
async def idp_client(make_settings: Any, aiohttp_client: Any, aiohttp_server: Any
                     ) -> AsyncIterator[tuple[Any, IdP]]:
    idp = IdP()
    app = web.Application()
    app.router.add_get("/jwks.json", idp.jwks)
    server = await aiohttp_server(app)
    async for client in _client_for(make_settings, aiohttp_client,
                                    jwt_jwks_url=str(server.make_url("/jwks.json")),
                                    jwt_jwks_issuer=ISSUER, jwt_jwks_audience=AUDIENCE):
        yield client, idp


async def test_external_identity_maps_claims_to_customer_and_role(
        idp_client: tuple[Any, IdP], services: Services, tenant: Tenant) -> None:
    client, idp = idp_client
    token = idp.token(tenant)
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 200
    user = await services.pool.fetchrow("SELECT * FROM users WHERE id = $1",
                                        external_user_id(ISSUER, "anna@idp"))
    assert user["customer_id"] == tenant.customer_id and user["role"] == "customer_user"
    assert user["email"] is None and user["password_hash"] is None
    denied = await client.delete("/api/v1/account", headers=bearer(token))
    assert denied.status == 403
    admin = idp.token(tenant, role="customer_admin")
    settings = await client.get("/api/v1/settings", headers=bearer(admin))
    assert settings.status == 200
    assert idp.fetches == 1  # the key set is cached


@pytest.mark.parametrize("overrides", [
    {"aud": "someone-else"}, {"iss": "https://evil.example"}, {"exp": int(time.time()) - 60},
    {"recstore_role": "staff"}, {"recstore_role": "operator"}, {"recstore_role": None},
    {"recstore_customer_id": str(uuid.uuid4())}, {"recstore_customer_id": "not-a-uuid"},
    {"sub": None},
])
async def test_external_tokens_with_wrong_claims_are_401(
        idp_client: tuple[Any, IdP], tenant: Tenant, overrides: dict[str, Any]) -> None:
    client, idp = idp_client
    response = await client.get("/api/v1/recordings", headers=bearer(idp.token(tenant, **overrides)))
    assert response.status == 401
    assert response.content_type == "application/problem+json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_external_provider_refuses_symmetric_none_and_confused_algorithms(
        idp_client: tuple[Any, IdP], tenant: Tenant) -> None:
    client, idp = idp_client
    claims = jwt.decode(idp.token(tenant), options={"verify_signature": False})
    body = _b64(json.dumps(claims).encode())
    public_pem = idp.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    attempts = []
    for header, secret in (({"alg": "HS256", "kid": "hmac-key"}, b"shared-secret"),
                           ({"alg": "HS256", "kid": idp.kid}, public_pem),
                           ({"alg": "none", "kid": idp.kid}, None),
                           ({"alg": "RS256", "kid": "unknown-kid"}, None)):
        signing_input = f"{_b64(json.dumps(header).encode())}.{body}"
        signature = (hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
                     if secret else b"")
        attempts.append(f"{signing_input}.{_b64(signature)}")
    for token in attempts:
        assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401


async def test_external_token_of_an_erased_customer_is_401(
        idp_client: tuple[Any, IdP], services: Services, tenant: Tenant) -> None:
    client, idp = idp_client
    token = idp.token(tenant, role="customer_admin")
    assert (await client.delete("/api/v1/account", headers=bearer(token))).status == 202
    fresh = idp.token(tenant, role="customer_admin", sub="someone-new@idp")
    for attempt in (token, fresh):
        assert (await client.get("/api/v1/recordings", headers=bearer(attempt))).status == 401


def test_jwks_url_must_be_https_unless_loopback() -> None:
    for url in ("http://idp.example/jwks.json", "file:///etc/passwd", "ftp://idp/jwks"):
        with pytest.raises(ValueError):
            JwksVerifier(url, issuer=ISSUER, audience=AUDIENCE, customer_claim="c", role_claim="r")
    with pytest.raises(ValueError):
        JwksVerifier("https://idp.example/jwks.json", issuer="", audience=AUDIENCE,
                     customer_claim="c", role_claim="r")
    JwksVerifier("http://127.0.0.1:9/jwks.json", issuer=ISSUER, audience=AUDIENCE,
                 customer_claim="c", role_claim="r")


async def test_a_withdrawn_token_is_written_to_its_customers_audit_log(
        client: Any, services: Services, tenant: Tenant) -> None:
    token = await login(client, tenant.user_email)
    await services.pool.execute("UPDATE users SET disabled_at = now() WHERE id = $1",
                                tenant.user_id)
    assert (await client.get("/api/v1/recordings", headers=bearer(token))).status == 401
    entry = await services.pool.fetchrow(
        "SELECT * FROM audit_log WHERE customer_id = $1 ORDER BY seq DESC LIMIT 1",
        tenant.customer_id)
    assert entry["action"] == "access.denied.token_revoked"
    assert entry["actor_id"] == tenant.user_id and entry["recording_id"] is None


async def test_jwt_public_prints_the_key_a_rotation_keeps_verifying(
        services: Services, tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    monkeypatch.setenv("RECSTORE_JWT_PRIVATE_KEY_FILE",
                       str(services.settings.jwt_private_key_file))
    for name in ("database_url", "s3_endpoint", "s3_access_key", "s3_secret_key",
                 "master_keys", "epoch_keys_file", "ingest_keys", "staff_key_file"):
        value = getattr(services.settings, name)
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        monkeypatch.setenv(f"RECSTORE_{name.upper()}", str(raw))
    out = io.StringIO()
    with redirect_stdout(out):
        assert await asyncio.to_thread(cli_main, ["keys", "jwt-public", "--json"]) == 0
    printed = json.loads(out.getvalue())
    token = services.tokens.issue(tenant.user_id, "customer_user", tenant.customer_id)
    assert printed["kid"] == jwt.get_unverified_header(token)["kid"]
    assert "PRIVATE" not in printed["public_key_pem"]
    saved = tmp_path / "previous.pem"
    saved.write_text(printed["public_key_pem"])
    [public] = load_public_keys(saved)
    assert jwt.decode(token, public, algorithms=["EdDSA"], audience=services.tokens.audience)
