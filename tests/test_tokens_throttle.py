"""Login brute force: per-account and per-address back-off, shared by every API process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, tzinfo
from typing import Any

import pytest

from factories import PASSWORD, Tenant
from recstore.app import create_app
from recstore.auth import login
from recstore.auth.throttle import ACCOUNT, CLIENT, lock_seconds
from recstore.services import Services, open_services

WRONG = "not the password at all"


async def _login(client: Any, email: str, password: str) -> Any:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_back_off_doubles_after_the_free_attempts_and_is_capped() -> None:
    free = ACCOUNT.free_attempts
    assert [lock_seconds(n, ACCOUNT) for n in range(free - 1, free + 4)] == [0, 1, 2, 4, 8]
    assert lock_seconds(free + 40, ACCOUNT) == ACCOUNT.max_lock_seconds


async def test_guessing_a_password_gets_429_with_retry_after_even_for_the_right_one(
        client: Any, services: Services, tenant: Tenant) -> None:
    for _ in range(ACCOUNT.free_attempts):
        assert (await _login(client, tenant.user_email, WRONG)).status == 401
    throttled = await _login(client, tenant.user_email, PASSWORD)
    assert throttled.status == 429
    assert throttled.content_type == "application/problem+json"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert services.metrics.login_throttled._value.get() == 1
    assert services.metrics.login_failures._value.get() == ACCOUNT.free_attempts
    entries = await services.pool.fetch(
        "SELECT * FROM audit_log WHERE customer_id = $1 AND action = 'login.failed'",
        tenant.customer_id)
    assert len(entries) == ACCOUNT.free_attempts
    assert {e["actor_id"] for e in entries} == {tenant.user_id}
    # Nothing stored names the account or the address.
    keys = [bytes(r["key"]) for r in await services.pool.fetch("SELECT key FROM login_throttle")]
    assert keys and all(tenant.user_email.encode() not in k and b"127.0.0.1" not in k
                        for k in keys)


async def test_the_lock_lifts_after_retry_after(client: Any, services: Services,
                                                tenant: Tenant) -> None:
    for _ in range(ACCOUNT.free_attempts):
        await _login(client, tenant.admin_email, WRONG)
    throttled = await _login(client, tenant.admin_email, PASSWORD)
    assert throttled.status == 429
    await asyncio.sleep(int(throttled.headers["Retry-After"]) + 0.2)
    assert (await _login(client, tenant.admin_email, PASSWORD)).status == 200


class _Stopped(datetime):
    """The login's clock, stopped: the burst's 1 s and 2 s locks cannot run out while it lasts,
    however slowly a loaded machine serves it."""

    at = datetime.now(UTC)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _Stopped:
        return cls.fromtimestamp(cls.at.timestamp(), tz)


async def test_a_parallel_burst_cannot_slip_past_the_limit(
        client: Any, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login, "datetime", _Stopped)
    statuses = [r.status for r in await asyncio.gather(
        *(_login(client, tenant.user_email, WRONG) for _ in range(20)))]
    # Exactly the free attempts get through; every other one of the burst is locked out.
    assert statuses.count(401) == ACCOUNT.free_attempts, statuses
    assert statuses.count(429) == 20 - ACCOUNT.free_attempts, statuses


async def test_success_clears_the_account_bucket(client: Any, tenant: Tenant) -> None:
    for _ in range(ACCOUNT.free_attempts - 1):
        assert (await _login(client, tenant.user_email, WRONG)).status == 401
    assert (await _login(client, tenant.user_email, PASSWORD)).status == 200
    for _ in range(ACCOUNT.free_attempts - 1):
        assert (await _login(client, tenant.user_email, WRONG)).status == 401


async def test_one_address_guessing_many_accounts_is_throttled(client: Any,
                                                               tenant: Tenant) -> None:
    for i in range(CLIENT.free_attempts):
        response = await _login(client, f"guess-{i}@acme-ab.example", WRONG)
        assert response.status == 401, i
    assert (await _login(client, "guess-last@acme-ab.example", WRONG)).status == 429
    assert (await _login(client, tenant.admin_email, PASSWORD)).status == 429


async def test_the_throttle_holds_across_api_processes(
        client: Any, tenant: Tenant, make_settings: Any, aiohttp_client: Any) -> None:
    """Two apps with their own pools stand for two processes sharing one database."""
    async with open_services(make_settings(), pool_size=2) as other_svc:
        other = await aiohttp_client(create_app(services=other_svc))
        for i in range(ACCOUNT.free_attempts):
            target = client if i % 2 else other
            assert (await _login(target, tenant.user_email, WRONG)).status == 401
        assert (await _login(client, tenant.user_email, PASSWORD)).status == 429
        assert (await _login(other, tenant.user_email, PASSWORD)).status == 429
