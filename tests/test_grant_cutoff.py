"""A revoked or expiring grant cuts a staff download off within about a second or one
256 KiB piece, even for a client that reads slowly while socket buffers are full: over a
raw socket against the real stack."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from rawhttp import request_head

from factories import audit_actions, big_wav, make_staff, make_tenant, token_headers, upload
from recstore.services import Services

PIECE = 256 * 1024
RCVBUF = 32 * 1024



async def _slow_download(client: Any, path: str, headers: dict[str, str],
                         revoke: Any) -> tuple[int, int, bytes]:
    """(bytes before the revoke answered, bytes after it, head); reads 4 KiB per 20 ms."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (client.server.host, client.server.port))
    await loop.sock_sendall(sock, request_head("GET", path, headers))
    received = b""
    before = after = 0
    revoked = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout=10)
            except ConnectionResetError:
                break
            if not data:
                break
            if not revoked:
                received += data
                if len(received) > 128 * 1024:
                    await revoke()
                    revoked, before = True, len(received)
            else:
                after += len(data)
            await asyncio.sleep(0.02)
    finally:
        sock.close()
    return before, after, received.partition(b"\r\n\r\n")[0]


async def test_a_slow_reader_gets_at_most_about_a_piece_after_the_revoke(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    body = big_wav(40)  # ~7 MB
    recording_id = (await (await upload(client, tenant, body)).json())["id"]
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    staff = await make_staff(services)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "staff_id": str(staff), "purpose": "p", "expires_at": expires})).json())["id"]

    async def revoke() -> None:
        answer = await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)
        assert answer.status == 204

    before, after, head = await _slow_download(
        client, f"/staff/v1/recordings/{recording_id}/audio",
        token_headers(services, staff, "staff"), revoke)
    assert head.startswith(b"HTTP/1.1 200")
    assert before + after < len(body) // 2
    # what sat in this side's receive buffer, plus at most one piece more
    assert after <= PIECE + 4 * RCVBUF, after
    actions = [e["action"] for e in await audit_actions(services, tenant.customer_id)]
    assert actions.count("staff.audio_cut_off") == 1


async def test_an_expiring_grant_cuts_a_slow_download_too(
        client: Any, services: Services) -> None:
    tenant = await make_tenant(services)
    body = big_wav(40)
    recording_id = (await (await upload(client, tenant, body)).json())["id"]
    admin = token_headers(services, tenant.admin_id, "customer_admin", tenant.customer_id)
    staff = await make_staff(services)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    grant_id = (await (await client.post("/api/v1/grants", headers=admin, json={
        "all": True, "staff_id": str(staff), "purpose": "p", "expires_at": expires})).json())["id"]

    async def expire() -> None:  # as if its expiry time had just passed
        await services.pool.execute("UPDATE grants SET expires_at = now() WHERE id = $1",
                                    grant_id)

    before, after, _ = await _slow_download(
        client, f"/staff/v1/recordings/{recording_id}/audio",
        token_headers(services, staff, "staff"), expire)
    assert before + after < len(body) // 2
    assert after <= PIECE + 4 * RCVBUF, after
