"""What aiohttp itself refuses (oversized headers, bad framing) and clients that trickle
headers, against the server `serve` runs (recstore.runner), over raw sockets."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest
from rawhttp import exchange, parse_response, request_head

from factories import Tenant
from recstore.services import Services

TOKEN = "eyJhbGciOiJFZERTQSJ9." + "s3cr3tT0k3n" * 900  # over 8190 bytes


@pytest.fixture
async def served(services: Services) -> AsyncIterator[tuple[str, int]]:
    from recstore.runner import run_services

    svc = Services(**{**vars(services), "settings": services.settings.model_copy(
        update={"header_timeout_seconds": 0.5})})
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def announce(url: str) -> None:
        ready.set_result(url)

    task = asyncio.create_task(run_services(svc, api=True, worker=False, host="127.0.0.1",
                                            port=0, stop=stop, on_ready=announce))
    url = await asyncio.wait_for(ready, timeout=10)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    yield host, int(port)
    stop.set()
    await task


async def test_an_oversized_header_is_431_problem_json_without_echo(
        served: tuple[str, int], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    head = request_head("GET", "/api/v1/recordings", {"Authorization": f"Bearer {TOKEN}"})
    answer = await exchange(*served, [head])
    assert answer.status == 431
    assert b"application/problem+json" in answer.head
    assert json.loads(answer.body)["status"] == 431
    assert b"s3cr3t" not in answer.head + answer.body
    assert b"nosniff" in answer.head
    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize("raw", [
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Sec: Bearer s3cr3t\x00\r\n\r\n",
    b"GET /healthz?x=Bearer%20s3cr3t HTTP/9.9\r\nHost: x\r\n\r\n",
    b"G\x00T /s3cr3t HTTP/1.1\r\n\r\n",
])
async def test_bad_framing_is_400_problem_json_without_echo(
        served: tuple[str, int], caplog: pytest.LogCaptureFixture, raw: bytes) -> None:
    caplog.set_level(logging.DEBUG)
    answer = await exchange(*served, [raw])
    assert answer.status == 400, answer
    assert b"application/problem+json" in answer.head
    assert b"s3cr3t" not in answer.body
    assert "s3cr3t" not in caplog.text


@pytest.mark.parametrize("body", [b"5\r\n{\"e\":\r\nZZ\r\nnot a chunk\r\n",
                                  b"5\r\n{\"e\":\r\n"])  # then the client goes away
async def test_a_broken_chunked_body_is_a_4xx_not_500(
        served: tuple[str, int], tenant: Tenant, monkeypatch: pytest.MonkeyPatch,
        body: bytes) -> None:
    import api.parsing

    monkeypatch.setattr(api.parsing, "BODY_SECONDS", 0.5)
    head = request_head("POST", "/api/v1/auth/login", {
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    answer = await exchange(*served, [head, body])
    # aiohttp reports a broken chunk as a new bad request, leaving the body open: it times out.
    assert answer.status in (400, 408), answer
    assert b"application/problem+json" in answer.head


async def test_a_client_trickling_its_headers_is_dropped(served: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*served)
    received = b""
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\n")
        for _ in range(100):  # 10 s of one header byte per 0.1 s, if the server let us
            await asyncio.sleep(0.1)
            if reader.at_eof():
                break
            try:
                writer.write(b"X")
                await writer.drain()
            except ConnectionError:
                break
            received += await _available(reader)
        received += await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    assert reader.at_eof()
    assert parse_response(received).status in (0, 408)  # closed, never served


async def _available(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(65536), timeout=0.01)
    except TimeoutError:
        return b""


async def test_a_slow_but_complete_request_within_the_timeout_is_served(
        served: tuple[str, int]) -> None:
    head = request_head("GET", "/healthz", {})
    answer = await exchange(*served, [head[:10], head[10:]], pause=0.1)
    assert answer.status == 200


