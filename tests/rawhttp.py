"""HTTP over a raw socket, for attacks about framing, splitting and slowness that a client
library would smooth over."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass
class RawResponse:
    status: int
    head: bytes
    body: bytes


def request_head(method: str, path: str, headers: dict[str, str], *, extra: bytes = b"",
                 host: str = "127.0.0.1") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines).encode() + b"\r\n" + extra + b"\r\n"


async def exchange(host: str, port: int, pieces: list[bytes], *, pause: float = 0.2,
                   timeout: float = 30.0) -> RawResponse:
    """Send each piece as its own write (its own TCP segment, `pause` apart), then read the
    answer until the server closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for n, piece in enumerate(pieces):
            if n:
                await asyncio.sleep(pause)
            writer.write(piece)
            await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout=timeout)
    finally:
        writer.close()
    return parse_response(raw)


def parse_response(raw: bytes) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return RawResponse(status, head, body)
