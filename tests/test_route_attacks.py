"""Every protected route, attacked: a matrix over api.routes.OPERATIONS, so routes added
later are covered without touching this file. All must fail closed, as problem+json."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.routes import OPERATIONS
from api.spec import Operation
from factories import Tenant, make_staff, make_tenant, upload, wav
from recstore.auth.tokens import load_private_key
from recstore.rights.erasure import request_erasure
from recstore.services import Services

PROTECTED = [op for op in OPERATIONS if op.roles is not None]
ROLES = ("customer_admin", "customer_user", "staff")
# Request bodies that would pass validation, so a handler that validates before it looks
# the id up is still asked about the id. Routes not listed here get an empty object.
VALID_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "approve_access_request": lambda: {
        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
}


def _path(op: Operation, value: str) -> str:
    return re.sub(r"{\w+}", value, op.path)


async def _call(client: Any, op: Operation, path: str, headers: dict[str, str]) -> Any:
    body = VALID_BODIES.get(op.operation_id, dict)() if op.body is not None else None
    return await client.request(op.method, path, headers=headers, json=body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _attack_tokens(svc: Services, tenant: Tenant) -> dict[str, str]:
    """Every way to present a token that must not work, for the tenant's admin."""
    settings = svc.settings
    key = load_private_key(settings.jwt_private_key_file)
    kid = jwt.get_unverified_header(svc.tokens.issue(tenant.admin_id, "customer_admin",
                                                     tenant.customer_id))["kid"]
    now = int(time.time())
    claims = {"iss": settings.jwt_issuer, "aud": settings.jwt_audience,
              "sub": str(tenant.admin_id), "role": "customer_admin",
              "cid": str(tenant.customer_id), "iat": now, "nbf": now, "exp": now + 300}

    def signed(**changes: Any) -> str:
        return jwt.encode({**claims, **changes}, key, algorithm="EdDSA", headers={"kid": kid})

    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid}).encode())}." \
               f"{_b64(json.dumps(claims).encode())}"
    none_input = f"{_b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}." \
                 f"{_b64(json.dumps(claims).encode())}"
    return {
        "malformed": "not.a.jwt",
        "expired": signed(iat=now - 3600, nbf=now - 3600, exp=now - 1800),
        "wrong audience": signed(aud="another-service"),
        "wrong issuer": signed(iss="https://evil.example"),
        "forged (other key)": jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                                         headers={"kid": kid}),
        "unknown kid": jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": "nope"}),
        "alg none": f"{none_input}.",
        "HS256 keyed with the public key":
            f"{hs_input}.{_b64(hmac.new(public_pem, hs_input.encode(), hashlib.sha256).digest())}",
        "role escalated": signed(role="staff"),
        "other customer claimed": signed(cid=str(uuid.uuid4())),
        "unknown user": signed(sub=str(uuid.uuid4())),
    }


async def _assert_problem(response: Any, status: int, what: str) -> None:
    assert response.status == status, (what, response.status, await response.text())
    assert response.content_type == "application/problem+json", what
    body = await response.json()
    assert body["status"] == status and {"type", "title", "detail"} <= set(body), what


def test_the_matrix_sees_every_protected_route() -> None:
    assert len(PROTECTED) >= 8
    assert {("DELETE", "/api/v1/account"), ("GET", "/api/v1/export"),
            ("DELETE", "/api/v1/recordings/{id}"), ("PATCH", "/api/v1/settings")} <= \
        {(op.method, op.path) for op in PROTECTED}


async def test_every_protected_route_refuses_every_bad_token(client: Any,
                                                             services: Services) -> None:
    tenant = await make_tenant(services)
    attacks = {"none": None, **_attack_tokens(services, tenant)}
    for op in PROTECTED:
        path = _path(op, str(uuid.uuid4()))
        for name, token in attacks.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = await _call(client, op, path, headers)
            await _assert_problem(response, 401, f"{op.method} {op.path} with {name}")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Nothing was changed by any of it.
    assert await services.pool.fetchval("SELECT erased_at FROM customers WHERE id = $1",
                                        tenant.customer_id) is None


async def test_every_protected_route_refuses_the_wrong_role(client: Any,
                                                            services: Services) -> None:
    tenant = await make_tenant(services)
    staff_id = await make_staff(services)
    tokens = {
        "customer_admin": services.tokens.issue(tenant.admin_id, "customer_admin",
                                                tenant.customer_id),
        "customer_user": services.tokens.issue(tenant.user_id, "customer_user",
                                               tenant.customer_id),
        "staff": services.tokens.issue(staff_id, "staff", None),
    }
    refused = 0
    for op in PROTECTED:
        path = _path(op, str(uuid.uuid4()))
        for role in ROLES:
            if role in (op.roles or ()):
                continue
            response = await _call(client, op, path, {"Authorization": f"Bearer {tokens[role]}"})
            await _assert_problem(response, 403, f"{op.method} {op.path} as {role}")
            refused += 1
    assert refused >= len(PROTECTED)
    assert await services.pool.fetchval("SELECT erased_at FROM customers WHERE id = $1",
                                        tenant.customer_id) is None


async def test_tokens_stop_working_on_every_route_once_the_account_is_erased(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    tokens = [services.tokens.issue(tenant.admin_id, "customer_admin", tenant.customer_id),
              services.tokens.issue(tenant.user_id, "customer_user", tenant.customer_id)]
    await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    for op in PROTECTED:
        for token in tokens:
            response = await _call(client, op, _path(op, str(uuid.uuid4())),
                                   {"Authorization": f"Bearer {token}"})
            await _assert_problem(response, 401, f"{op.method} {op.path} after erasure")


async def _victim_ids(client: Any, services: Services, victim: Tenant) -> dict[str, str]:
    created = await upload(client, victim, wav())
    assert created.status == 201
    staff_id = await make_staff(services, "probe@recstore.example")
    now = datetime.now(UTC)
    request_id, grant_id = uuid.uuid4(), uuid.uuid4()
    await services.pool.execute(
        "INSERT INTO access_requests (id, customer_id, staff_id, all_recordings, reason, ticket)"
        " VALUES ($1, $2, $3, true, 'debug', 'T-1')", request_id, victim.customer_id, staff_id)
    await services.pool.execute(
        "INSERT INTO grants (id, customer_id, staff_id, all_recordings, purpose, created_by,"
        " created_at, expires_at) VALUES ($1, $2, $3, true, 'debug', $4, $5, $6)",
        grant_id, victim.customer_id, staff_id, victim.admin_id, now, now + timedelta(days=1))
    return {"recordings": (await created.json())["id"], "grants": str(grant_id),
            "access-requests": str(request_id)}


@pytest.mark.parametrize("role", ["customer_admin", "customer_user"])
async def test_another_customers_ids_answer_exactly_like_missing_ones(
        client: Any, services: Services, role: str) -> None:
    attacker, victim = await make_tenant(services), await make_tenant(services, "Victim AB")
    ids = await _victim_ids(client, services, victim)
    user_id = attacker.admin_id if role == "customer_admin" else attacker.user_id
    headers = {"Authorization": f"Bearer {services.tokens.issue(user_id, role, attacker.customer_id)}"}
    probed = 0
    for op in PROTECTED:
        if "{id}" not in op.path or role not in (op.roles or ()) or op.path.startswith("/staff"):
            continue
        kind = op.path.split("/")[3]  # /api/v1/<kind>/{id}...
        foreign = await _call(client, op, _path(op, ids.get(kind, ids["recordings"])), headers)
        missing = await _call(client, op, _path(op, str(uuid.uuid4())), headers)
        what = f"{op.method} {op.path} as {role}"
        assert foreign.status == missing.status and foreign.status in (404, 422), what
        assert await foreign.json() == await missing.json(), what
        probed += 1
    assert probed >= 3
    # The victim's data is untouched by all of it.
    assert await services.pool.fetchval("SELECT count(*) FROM recordings WHERE customer_id = $1",
                                        victim.customer_id) == 1
    grant = await services.pool.fetchrow("SELECT revoked_at FROM grants WHERE id = $1",
                                         uuid.UUID(ids["grants"]))
    assert grant["revoked_at"] is None
    assert await services.pool.fetchval("SELECT status FROM access_requests WHERE id = $1",
                                        uuid.UUID(ids["access-requests"])) == "pending"
