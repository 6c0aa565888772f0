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
