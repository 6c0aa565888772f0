"""Who the client is: X-Forwarded-For only from trusted proxies, login throttling by IPv6 /64
as well as by address and account, and /metrics kept off the public API port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from api.client_address import resolve, trusted_networks
from factories import METRICS, METRICS_TOKEN
from recstore.app import create_app
from recstore.auth.throttle import CLIENT
from recstore.services import Services, open_services

WRONG = "not the password at all"


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = trusted_networks("10.0.0.0/8, 2001:db8:ffff::/48")
    assert resolve("203.0.113.9", ["198.51.100.1"], proxies) == "203.0.113.9"  # not a proxy
    assert resolve("10.1.2.3", ["198.51.100.1"], proxies) == "198.51.100.1"
    # the client forged the left part; the proxy appended the real peer
    assert resolve("10.1.2.3", ["6.6.6.6, 198.51.100.1"], proxies) == "198.51.100.1"
    assert resolve("10.1.2.3", ["198.51.100.1, 10.9.9.9"], proxies) == "198.51.100.1"
    assert resolve("10.1.2.3", ["not-an-ip"], proxies) == "10.1.2.3"
    assert resolve("10.1.2.3", [], proxies) == "10.1.2.3"
    assert resolve("::ffff:10.1.2.3", ["[2001:db8::5]"], proxies) == "2001:db8::5"
    assert resolve(None, ["198.51.100.1"], proxies) == "unknown"


@pytest.fixture
async def proxied(make_settings: Any, aiohttp_client: Any) -> AsyncIterator[Any]:
    """The API behind a proxy on loopback (the test client is that proxy)."""
    async with open_services(make_settings(trusted_proxies="127.0.0.1/32, ::1")) as svc:
        yield await aiohttp_client(create_app(services=svc))


async def _attempt(client: Any, forwarded_for: str, n: int) -> int:
    response = await client.post("/api/v1/auth/login", headers={"X-Forwarded-For": forwarded_for},
                                 json={"email": f"nobody{n}@example.com", "password": WRONG})
    return int(response.status)


async def test_rotating_addresses_inside_one_ipv6_slash_64_is_throttled(proxied: Any) -> None:
    statuses = [await _attempt(proxied, f"2001:db8:1:2::{n:x}", n)
                for n in range(1, CLIENT.free_attempts + 2)]
    assert statuses[:CLIENT.free_attempts] == [401] * CLIENT.free_attempts
    assert statuses[-1] == 429
    # another /64 is another client
    assert await _attempt(proxied, "2001:db8:1:3::1", 999) == 401


async def test_clients_behind_a_trusted_proxy_are_throttled_apart(proxied: Any) -> None:
    for n in range(CLIENT.free_attempts + 1):
        await _attempt(proxied, "198.51.100.7", n)
    assert await _attempt(proxied, "198.51.100.7", 500) == 429
    assert await _attempt(proxied, "198.51.100.8", 501) == 401


async def test_forwarded_for_from_an_untrusted_peer_does_not_escape_the_throttle(
        client: Any) -> None:
    statuses = [await _attempt(client, f"198.51.100.{n}", n)
                for n in range(1, CLIENT.free_attempts + 2)]
    assert statuses[-1] == 429  # every attempt counted against the real peer


async def test_metrics_on_the_api_port_need_the_token(client: Any) -> None:
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401 and wrong.content_type == "application/problem+json"
    assert (await client.get("/metrics", headers={"Authorization": METRICS_TOKEN})).status == 401
    ok = await client.get("/metrics", headers=METRICS)
    assert ok.status == 200 and "recstore_" in await ok.text()


async def test_without_a_token_metrics_are_not_on_the_api_port_at_all(
        make_settings: Any, aiohttp_client: Any) -> None:
    async with open_services(make_settings(metrics_token=None)) as svc:
        client = await aiohttp_client(create_app(services=svc))
        assert (await client.get("/metrics")).status == 404
        assert (await client.get("/metrics", headers=METRICS)).status == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_with_a_metrics_port_serves_metrics_there_and_not_on_the_api(
        services: Services) -> None:
    from recstore.runner import run_services

    metrics_port = _free_port()
    svc = Services(**{**vars(services), "settings": services.settings.model_copy(
        update={"metrics_port": metrics_port, "metrics_token": None})})
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def announce(url: str) -> None:
        ready.set_result(url)

    task = asyncio.create_task(run_services(svc, api=True, worker=False, host="127.0.0.1",
                                            port=0, stop=stop, on_ready=announce))
    try:
        url = await asyncio.wait_for(ready, timeout=10)
        async with aiohttp.ClientSession() as http:
            assert (await http.get(f"{url}/metrics")).status == 404
            opened = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert opened.status == 200 and "recstore_" in await opened.text()
            api_there = await http.get(f"http://127.0.0.1:{metrics_port}/api/v1/recordings")
            assert api_there.status == 404
    finally:
        stop.set()
        await task
