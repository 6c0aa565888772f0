"""46elks end to end: its callbacks carry no signature, so the URL's token is the credential;
audio is fetched with the API credentials from a fake 46elks on loopback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from provider_fakes import (
    CALLEE,
    CALLER,
    ELKS_PASSWORD,
    ELKS_USER,
    STARTED,
    FakeProvider,
    basic,
    configure,
    elks_params,
    job_rows,
    rfc3339,
    run_worker,
    start_fake,
)

from factories import Tenant, bearer, counts, login, make_tenant, wav
from recstore.accounts.providers import elks_url_token, webhook_urls
from recstore.services import Services

AUDIO = wav(1.0)


@pytest.fixture
async def fake(aiohttp_server: Any) -> FakeProvider:
    return await start_fake(aiohttp_server, AUDIO)


@pytest.fixture
async def urls(services: Services, tenant: Tenant, fake: FakeProvider) -> dict[str, str]:
    account = await configure(services, tenant.customer_id, "46elks", api_base=fake.base)
    return {purpose: urlsplit(url).path + "?" + urlsplit(url).query
            for purpose, url in webhook_urls("http://recstore.test", account).items()}


async def test_token_is_derived_from_the_customers_webhook_secret(
        tenant: Tenant, urls: dict[str, str]) -> None:
    token = elks_url_token(tenant.webhook_secret.encode())
    assert len(token) >= 43 and tenant.webhook_secret not in token
    assert f"token={token}&kind=call" in urls["recordcall"]
    assert f"token={token}&kind=voicemail" in urls["record"]


@pytest.mark.parametrize(("purpose", "kind"), [("recordcall", "call"), ("record", "voicemail")])
async def test_recording_callback_is_fetched_with_api_credentials_and_stored(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider,
        urls: dict[str, str], purpose: str, kind: str) -> None:
    response = await client.post(urls[purpose], data=elks_params(fake.base, 1))
    assert response.status == 204, await response.text()
    assert await run_worker(services) == 1
    [job] = await job_rows(services)
    assert job["status"] == "done" and job["provider_recording_id"] == f"c{1:031x}-r0"
    assert fake.requests[0][2] == basic(ELKS_USER, ELKS_PASSWORD)

    token = await login(client, tenant.user_email)
    meta = await (await client.get(f"/api/v1/recordings/{job['recording_id']}",
                                   headers=bearer(token))).json()
    assert (meta["kind"], meta["caller_number"], meta["callee_number"]) == (kind, CALLER, CALLEE)
    expected = STARTED + timedelta(seconds=0.5)  # `created` is the end: minus the duration
    assert meta["recorded_at"] == rfc3339(expected)
    assert meta["size_bytes"] == len(AUDIO)


@pytest.mark.parametrize("token", ["", "wrong", None])
async def test_a_wrong_or_missing_token_is_refused(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider,
        urls: dict[str, str], token: str | None) -> None:
    path = f"/webhooks/46elks/{tenant.customer_id}"
    if token is not None:
        path += f"?token={token}"
    response = await client.post(path, data=elks_params(fake.base, 2))
    assert response.status == 403
    assert await job_rows(services) == []
    assert services.metrics.webhook_signature_failures.labels("46elks")._value.get() == 1


async def test_another_customers_token_is_refused(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider,
        urls: dict[str, str]) -> None:
    other = await make_tenant(services, "Other AB")
    await configure(services, other.customer_id, "46elks", api_base=fake.base)
    crossed = urls["recordcall"].replace(str(tenant.customer_id), str(other.customer_id))
    response = await client.post(crossed, data=elks_params(fake.base, 3))
    assert response.status == 403
    assert await job_rows(services) == []


async def test_retries_for_six_hours_store_one_recording(
        client: Any, services: Services, fake: FakeProvider, urls: dict[str, str]) -> None:
    for _ in range(5):
        assert (await client.post(urls["recordcall"], data=elks_params(fake.base, 4))).status == 204
    await run_worker(services)
    assert len(await job_rows(services)) == 1
    assert await counts(services) == (1, 1)


@pytest.mark.parametrize("status", [204, 404, 405])
async def test_copy_deletion_is_attempted_and_unsupported_is_not_an_error(
        client: Any, services: Services, tenant: Tenant, fake: FakeProvider, status: int) -> None:
    account = await configure(services, tenant.customer_id, "46elks", api_base=fake.base,
                              delete_after_fetch=True)
    fake.delete_status = status
    url = urlsplit(webhook_urls("http://recstore.test", account)["recordcall"])
    await client.post(f"{url.path}?{url.query}", data=elks_params(fake.base, 5))
    await run_worker(services)
    assert fake.paths("DELETE") == [f"/a1/recordings/c{5:031x}-r0"]
    [job] = await job_rows(services)
    assert job["status"] == "done"
