"""The worker is no SSRF proxy: only the provider's origins, no refused addresses (checked
after resolution, on the very addresses connected to), no redirects to other hosts, size
and type limits. Media URLs come from signed Telnyx events, as an attacker holding a
provider account (or a provider bug) would send them."""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from nacl.signing import SigningKey
from provider_fakes import (
    TELNYX_API_KEY,
    configure,
    fast_settings,
    job_rows,
    run_worker,
    start_fake,
    telnyx_event,
    telnyx_headers,
    telnyx_public_key,
)
from yarl import URL

from factories import make_tenant, wav
from ingest.errors import FetchRefused
from ingest.fetch import Fetcher, FetchLimits, FetchPolicy, Origin, is_public_address
from ingest.telnyx import TelnyxAdapter
from ingest.twilio import TwilioAdapter
from recstore.services import Services

AUDIO = wav(0.5)
KEY = SigningKey.generate()


@pytest.mark.parametrize(("address", "public"), [
    ("127.0.0.1", False), ("127.8.9.10", False), ("169.254.169.254", False), ("10.1.2.3", False),
    ("172.16.0.1", False), ("192.168.1.1", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("224.0.0.251", False), ("239.255.255.250", False), ("240.0.0.1", False),
    ("255.255.255.255", False), ("::1", False), ("::", False), ("fe80::1", False),
    ("fc00::1", False), ("ff02::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:169.254.169.254", False), ("8.8.8.8", True), ("2606:4700:4700::1111", True),
])
def test_address_classes(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _checked(policy: FetchPolicy, url: str) -> str | None:
    try:
        return str(policy.check(URL(url)))
    except FetchRefused:
        return None


def test_default_origins_are_the_providers_real_hosts() -> None:
    twilio = FetchPolicy.for_provider(TwilioAdapter.origins, None)
    ok = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    assert _checked(twilio, ok) == ok
    assert _checked(twilio, ok.replace("https", "http")) == ok  # never credentials in clear
    for refused in ("https://api.twilio.com.evil.example/x", "https://evil.example/x",
                    "https://api.twilio.com:8443/x", "ftp://api.twilio.com/x",
                    "https://user:pw@api.twilio.com/x", "http://127.0.0.1/x",
                    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x"):
        assert _checked(twilio, refused) is None, refused
    telnyx = FetchPolicy.for_provider(TelnyxAdapter.origins, None)
    media = "https://s3.amazonaws.com/telephony-recorder-prod/a/b.wav?X-Amz-Signature=1"
    assert _checked(telnyx, media) == media
    assert _checked(telnyx, "https://api.telnyx.com/v2/recordings/1") is not None
    for refused in ("https://s3.amazonaws.com/someone-elses-bucket/x.wav",
                    "https://s3.amazonaws.com/telephony-recorder-prod/../other/x.wav",
                    "https://s3.amazonaws.com/telephony-recorder-prodx/x.wav"):
        assert _checked(telnyx, refused) is None, refused


def test_an_explicit_api_base_is_the_only_origin_and_only_its_literal_address_is_exempt(
) -> None:
    policy = FetchPolicy.for_provider(TwilioAdapter.origins, "http://127.0.0.1:8099")
    assert _checked(policy, "http://127.0.0.1:8099/x") == "http://127.0.0.1:8099/x"
    for refused in ("https://api.twilio.com/x", "http://127.0.0.1:8098/x",
                    "http://127.0.0.2:8099/x", "http://localhost:8099/x"):
        assert _checked(policy, refused) is None, refused
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    named = FetchPolicy.for_provider(TwilioAdapter.origins, "http://localhost:8099")
    assert not named.address_allowed(ipaddress.ip_address("127.0.0.1"))


class MapResolver(AbstractResolver):
    """DNS as an attacker controls it: any name to any address."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.calls.append(host)
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0} for address in self.names[host]]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("addresses", [["169.254.169.254"], ["10.0.0.5"], ["127.0.0.1"],
                                       ["8.8.8.8", "127.0.0.1"]])
async def test_an_allowed_name_resolving_to_a_refused_address_is_refused(
        addresses: list[str]) -> None:
    resolver = MapResolver({"api.twilio.com": addresses})
    policy = FetchPolicy.for_provider(TwilioAdapter.origins, None)
    async with Fetcher(policy, FetchLimits(1000), resolver) as http:
        with pytest.raises(FetchRefused, match="resolves to a refused address"):
            await http.json("https://api.twilio.com/2010-04-01/Accounts/AC1/Calls/CA1.json")
    assert resolver.calls == ["api.twilio.com"]


async def test_the_connection_goes_to_the_address_that_was_checked(aiohttp_server: Any) -> None:
    fake = await start_fake(aiohttp_server, AUDIO)
    port = URL(fake.base).port
    resolver = MapResolver({"provider.invalid": ["127.0.0.1"]})  # unresolvable in real DNS
    origin = Origin.parse(f"http://provider.invalid:{port}")
    trusting = FetchPolicy((origin,), frozenset({ipaddress.ip_address("127.0.0.1")}))
    url = f"http://provider.invalid:{port}/telephony-recorder-prod/x.wav"
    async with Fetcher(trusting, FetchLimits(10**6), resolver) as http:
        assert b"".join([piece async for piece in http.stream(url)]) == AUDIO
    async with Fetcher(FetchPolicy((origin,), frozenset()), FetchLimits(10**6), resolver) as http:
        with pytest.raises(FetchRefused):
            await http.json(url)
    assert len(fake.requests) == 1


async def _dead_after_event(client: Any, services: Services, media_url: str | None, *,
                            api_base: str | None, **event: Any) -> Any:
    tenant = await make_tenant(services, f"T {len(await job_rows(services))}")
    await configure(services, tenant.customer_id, "telnyx", api_base=api_base,
                    public_key=telnyx_public_key(KEY), api_key=TELNYX_API_KEY)
    body = json.dumps(telnyx_event(media_url, None, **event)).encode()
    response = await client.post(f"/webhooks/telnyx/{tenant.customer_id}", data=body,
                                 headers=telnyx_headers(KEY, body))
    assert response.status == 204
    await run_worker(services)
    rows = [r for r in await job_rows(services) if r["customer_id"] == tenant.customer_id]
    return rows[0]


@pytest.mark.parametrize("media_url", [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://127.0.0.1:9/x.wav", "http://[::1]:9/x.wav", "http://10.0.0.1/x.wav",
    "http://localhost:9/x.wav", "https://evil.example/x.wav", "httpx://api.telnyx.com/x",
])
async def test_media_urls_outside_the_providers_hosts_are_dead_at_once(
        client: Any, services: Services, media_url: str) -> None:
    job = await _dead_after_event(client, services, media_url, api_base=None,
                                  **{"from": "+46700000000"})
    assert (job["status"], job["attempts"]) == ("dead", 1)
    assert "allowed hosts" in job["last_error"] or "not a plain" in job["last_error"]
    assert "169.254" not in job["last_error"] and "evil" not in job["last_error"]
    assert await services.pool.fetchval("SELECT count(*) FROM recordings") == 0


async def test_a_configured_hostname_resolving_to_loopback_is_refused(
        client: Any, services: Services, aiohttp_server: Any) -> None:
    fake = await start_fake(aiohttp_server, AUDIO)
    named_base = fake.base.replace("127.0.0.1", "localhost")
    job = await _dead_after_event(client, services,
                                  f"{named_base}/telephony-recorder-prod/x.wav",
                                  api_base=named_base, **{"from": "+46700000000"})
    assert job["status"] == "dead"
    assert job["last_error"] == "the provider host resolves to a refused address"
    assert fake.requests == []


async def test_non_http_media_urls_are_refused_at_the_webhook(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    await configure(services, tenant.customer_id, "telnyx", api_base=None,
                    public_key=telnyx_public_key(KEY), api_key=TELNYX_API_KEY)
    body = json.dumps(telnyx_event("file:///etc/passwd", None)).encode()
    response = await client.post(f"/webhooks/telnyx/{tenant.customer_id}", data=body,
                                 headers=telnyx_headers(KEY, body))
    assert response.status == 422
    assert await job_rows(services) == []


@pytest.mark.parametrize(("target", "stored"), [
    ("/telephony-recorder-prod/x.wav", True),
    ("http://localhost:{port}/telephony-recorder-prod/x.wav", False),
    ("http://127.0.0.2:{port}/telephony-recorder-prod/x.wav", False),
    ("http://169.254.169.254/latest/meta-data/", False),
])
async def test_redirects_only_to_the_same_host(
        client: Any, services: Services, aiohttp_server: Any, target: str, stored: bool) -> None:
    fake = await start_fake(aiohttp_server, AUDIO)
    to = target.format(port=URL(fake.base).port)
    job = await _dead_after_event(client, services, str(URL(f"{fake.base}/redirect")
                                                        .with_query(to=to)),
                                  api_base=fake.base, **{"from": "+46700000000"})
    assert job["status"] == ("done" if stored else "dead"), job["last_error"]
    if not stored:
        assert job["last_error"] == "the provider redirected to another host"
        assert len(fake.requests) == 1  # the redirect itself, never its target


async def test_endless_same_host_redirects_stop(
        client: Any, services: Services, aiohttp_server: Any) -> None:
    fake = await start_fake(aiohttp_server, AUDIO)
    loop = URL(f"{fake.base}/redirect")
    for _ in range(5):
        loop = loop.with_query(to=str(loop))
    job = await _dead_after_event(client, services, str(loop), api_base=fake.base,
                                  **{"from": "+46700000000"})
    assert job["last_error"] == "the provider redirected too many times"


@pytest.mark.parametrize("declare_length", [True, False])
async def test_audio_over_the_size_limit_is_refused(
        make_settings: Any, services: Services, aiohttp_client: Any, aiohttp_server: Any,
        declare_length: bool) -> None:
    from recstore.app import create_app
    from recstore.services import Services as Svc

    small = Svc(make_settings(max_upload_bytes=len(AUDIO) - 1), services.pool, services.store,
                services.keys, services.tokens, services.metrics)
    client = await aiohttp_client(create_app(services=small))
    fake = await start_fake(aiohttp_server, AUDIO)
    fake.declare_length = declare_length
    job = await _dead_after_event(client, small, f"{fake.base}/telephony-recorder-prod/x.wav",
                                  api_base=fake.base, **{"from": "+46700000000"})
    assert job["status"] == "dead" and job["attempts"] == 1
    assert "limit" in job["last_error"]
    assert await services.store.list_keys() == []


@pytest.mark.parametrize(("content_type", "body", "error"), [
    ("text/html", b"<html>login</html>", "the provider sent text/html, not audio"),
    ("application/json", b'{"code": 20404}', "the provider sent application/json, not audio"),
    ("audio/x-wav", b"this is no audio at all" * 100, "not audio"),
])
async def test_non_audio_is_dead_lettered_with_a_clear_error(
        client: Any, services: Services, aiohttp_server: Any, content_type: str, body: bytes,
        error: str) -> None:
    fake = await start_fake(aiohttp_server, AUDIO)
    fake.content_type, fake.body = content_type, body
    job = await _dead_after_event(client, services, f"{fake.base}/telephony-recorder-prod/x.wav",
                                  api_base=fake.base, **{"from": "+46700000000"})
    assert (job["status"], job["attempts"]) == ("dead", 1)
    assert error in job["last_error"]
    assert await services.store.list_keys() == []
    assert await services.pool.fetchval("SELECT count(*) FROM pending_uploads") == 0


def test_fast_settings_keep_tests_short() -> None:
    assert fast_settings().read_timeout_seconds <= 1
