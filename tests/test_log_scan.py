"""One full scenario, scanned for personal data and secrets: ingest from every provider,
customer and staff use, export, erasure. Known values are planted (phone numbers, names,
e-mails, passwords, tokens, secrets, audio bytes), and every log line as emitted (the
production JSON formatter at INFO), every metric, every error body, and every staff answer
without a grant is searched for them, in plain and in the unkeyed hashed and encoded forms a
guesser could confirm."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import structlog
from nacl.signing import SigningKey
from prometheus_client import generate_latest
from provider_fakes import (
    CALLEE,
    CALLER,
    CALLER_NAME,
    ELKS_PASSWORD,
    TELNYX_API_KEY,
    TWILIO_TOKEN,
    configure,
    elks_params,
    post_twilio,
    run_worker,
    start_fake,
    telnyx_event,
    telnyx_headers,
    telnyx_public_key,
    twilio_status_params,
)

from crypto import normalize_phone
from factories import token_headers, wav
from ingest.upload_signature import signed_headers
from recstore import logging_setup
from recstore.accounts.customers import create_customer, create_staff, create_user
from recstore.accounts.providers import webhook_urls
from recstore.services import Services

OWNER_EMAIL = "Planted.Owner@leak-canary.example"
ADMIN_EMAIL = "planted.admin@leak-canary.example"
STAFF_EMAIL = "planted.staff@leak-canary.example"
STRANGER_EMAIL = "planted.stranger@leak-canary.example"
PASSWORD = "planted-Password-zq8-horse"
CUSTOMER_NAME = "Planted Börje Företag AB"
CUSTOMER_PHONE = "+46701110001"
ORG_NUMBER = "556677-8899"
UPLOAD_CALLER, UPLOAD_CALLER_NAME, UPLOAD_CALLEE = "070-222 00 02", "Planted Caller Åsa", "+46813330003"
TELNYX_KEY = SigningKey(bytes(range(32)))


def _forms(value: str) -> set[str]:
    """The value and what a guesser could match: other notations, unkeyed hashes, encodings."""
    forms = {value, value.lower()}
    try:
        e164 = normalize_phone(value)
        forms |= {e164, e164[1:], "0" + e164[3:], e164[3:]}
    except ValueError:
        pass
    if "@" in value:
        forms.add(value.split("@")[0].lower())
    for form in list(forms):
        raw = form.encode()
        for digest in (hashlib.sha256(raw), hashlib.sha1(raw), hashlib.md5(raw),
                       hashlib.blake2b(raw), hashlib.blake2b(raw, digest_size=16),
                       hashlib.blake2b(raw, digest_size=32)):
            forms |= {digest.hexdigest(), base64.b64encode(digest.digest()).decode()}
        forms.add(base64.b64encode(raw).decode().rstrip("="))
        forms.add(quote(form, safe=""))
    return {f for f in forms if len(f) >= 6}


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Everything the production logging configuration writes, for the test's duration."""
    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    monkeypatch.setattr(sys, "stderr", out)
    logging_setup.configure("INFO", json=True)
    try:
        yield out
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()


async def test_no_personal_data_or_secret_in_logs_metrics_or_error_bodies(
        client: Any, services: Services, aiohttp_server: Any, emitted: io.StringIO) -> None:
    scanned: list[str] = []  # error bodies, staff answers without a grant, metrics
    audio = wav(1.0, 523.0)

    async def keep(response: Any, *, always: bool = False) -> Any:
        body = await response.read()
        if always or response.status >= 400:
            scanned.append(f"{response.status} {dict(response.headers)} {body!r}")
        return response, body

    # -- a customer with planted account data, an admin, every provider --------------------
    async with services.pool.acquire() as conn:
        customer = await create_customer(conn, services.keys, name=CUSTOMER_NAME,
                                         email=OWNER_EMAIL, phone=CUSTOMER_PHONE,
                                         org_number=ORG_NUMBER)
        cid = customer.customer_id
        await create_user(conn, customer_id=cid, email=ADMIN_EMAIL, password=PASSWORD,
                                     role="customer_admin")
        staff_id = await create_staff(conn, email=STAFF_EMAIL, password=PASSWORD)
    fake = await start_fake(aiohttp_server, audio)
    await configure(services, cid, "twilio", api_base=fake.base)
    elks = await configure(services, cid, "46elks", api_base=fake.base)
    await configure(services, cid, "telnyx", api_base=fake.base,
                    public_key=telnyx_public_key(TELNYX_KEY), api_key=TELNYX_API_KEY)

    # -- ingest: signed upload, Twilio, 46elks, Telnyx; refused variants too ---------------
    metadata = {"Content-Type": "audio/wav", "Idempotency-Key": "vm-planted-1",
                "X-Recstore-Caller": UPLOAD_CALLER, "X-Recstore-Caller-Name": UPLOAD_CALLER_NAME,
                "X-Recstore-Callee": UPLOAD_CALLEE}
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(customer.webhook_secret, cid,
                             body_sha256=hashlib.sha256(audio).hexdigest(), timestamp=now,
                             headers=metadata)
    response, body = await keep(await client.post(f"/webhooks/upload/{cid}", data=audio,
                                                  headers=headers))
    assert response.status == 201, body
    upload_id = json.loads(body)["id"]
    forged = {**headers, "X-Recstore-Caller": "+46709990009"}
    assert (await keep(await client.post(f"/webhooks/upload/{cid}", data=audio,
                                         headers=forged)))[0].status == 401
    assert (await keep(await client.post(f"/webhooks/upload/{cid}", data=b"not audio",
                                         headers=signed_headers(
                                             customer.webhook_secret, cid,
                                             body_sha256=hashlib.sha256(b"not audio").hexdigest(),
                                             timestamp=now, headers={
                                                 **metadata, "Idempotency-Key": "vm-planted-2"}))
                                         ))[0].status >= 400

    assert (await keep(await post_twilio(client, cid, twilio_status_params(fake.base, 1))))[0] \
        .status == 204
    assert (await keep(await post_twilio(client, cid, twilio_status_params(fake.base, 2),
                                         token="wrong")))[0].status == 403
    elks_url = urlsplit(webhook_urls("http://x", elks)["recordcall"])
    assert (await keep(await client.post(f"{elks_url.path}?{elks_url.query}",
                                         data=elks_params(fake.base, 3))))[0].status == 204
    event = json.dumps(telnyx_event(f"{fake.base}/telephony-recorder-prod/r4.wav",
                                    "4f0e2f6e-1a2b-4c3d-8e9f-0a1b2c3d4e5f")).encode()
    assert (await keep(await client.post(f"/webhooks/telnyx/{cid}", data=event,
                                         headers=telnyx_headers(TELNYX_KEY, event))))[0] \
        .status == 204
    assert await run_worker(services) == 3

    # -- the customer: login, list, search, play, range, settings; and refusals ----------
    response, body = await keep(await client.post("/api/v1/auth/login", json={
        "email": ADMIN_EMAIL, "password": PASSWORD}))
    token = json.loads(body)["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    listed = json.loads((await keep(await client.get("/api/v1/recordings", headers=admin)))[1])
    assert len(listed["items"]) == 4
    search = f"/api/v1/recordings?caller={quote(UPLOAD_CALLER)}"
    assert len(json.loads((await keep(await client.get(search, headers=admin)))[1])["items"]) == 1
    await keep(await client.get(f"/api/v1/recordings?caller={quote('+46 70 planted')}",
                                headers=admin))
    assert (await keep(await client.get(f"/api/v1/recordings/{upload_id}/audio",
                                        headers=admin)))[1] == audio
    await keep(await client.get(f"/api/v1/recordings/{upload_id}/audio",
                                headers={**admin, "Range": "bytes=999999-"}))
    await keep(await client.patch("/api/v1/settings", headers=admin,
                                  json={"retention_days": 30}))
    await keep(await client.patch("/api/v1/settings", headers=admin,
                                  json={"retention_days": CUSTOMER_PHONE}))
    for attempt in ({"email": ADMIN_EMAIL, "password": "wrong " + PASSWORD},
                    {"email": STRANGER_EMAIL, "password": PASSWORD}):
        assert (await keep(await client.post("/api/v1/auth/login", json=attempt)))[0] \
            .status == 401
    await keep(await client.get("/api/v1/recordings",
                                headers={"Authorization": f"Bearer {token[:-4]}AAAA"}))
    # An oversized header (aiohttp's own refusal) carrying the token must not echo it.
    await keep(await client.get("/api/v1/recordings",
                                headers={"Authorization": f"Bearer {token}" + "x" * 9000}))

    # -- staff: metadata without identity; refused listen; a grant; a listen --------------
    staff = token_headers(services, staff_id, "staff")
    for path in (f"/staff/v1/customers/{cid}/recordings", f"/staff/v1/recordings/{upload_id}",
                 f"/staff/v1/recordings/{upload_id}/audio"):
        await keep(await client.get(path, headers=staff), always=True)
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response, body = await keep(await client.post("/api/v1/grants", headers=admin, json={
        "recording_ids": [upload_id], "staff_id": str(staff_id), "purpose": "line noise",
        "expires_at": expires}))
    assert response.status == 201, body
    grant_id = json.loads(body)["id"]
    response, body = await keep(await client.get(f"/staff/v1/recordings/{upload_id}/audio",
                                                 headers=staff))
    assert response.status == 200 and body == audio
    assert (await keep(await client.delete(f"/api/v1/grants/{grant_id}", headers=admin)))[0] \
        .status == 204

    # -- export, erasure, metrics ----------------------------------------------------------
    response, body = await keep(await client.get("/api/v1/export", headers=admin))
    assert response.status == 200 and body[:2] == b"PK"
    assert (await keep(await client.delete(f"/api/v1/recordings/{upload_id}",
                                           headers=admin)))[0].status == 204
    assert (await keep(await client.delete("/api/v1/account", headers=admin)))[0].status == 202
    await keep(await client.get("/api/v1/recordings", headers=admin))
    metrics_text = generate_latest(services.metrics.registry).decode()  # what /metrics serves
    assert "recstore_http_requests" in metrics_text
    scanned.append(metrics_text)

    # -- the scan ------------------------------------------------------------------------------
    logs = emitted.getvalue()
    assert '"recording stored"' in logs or "recording stored" in logs  # logging was captured
    planted = [OWNER_EMAIL, ADMIN_EMAIL, STAFF_EMAIL, STRANGER_EMAIL, PASSWORD, CUSTOMER_NAME,
               CUSTOMER_PHONE, ORG_NUMBER, UPLOAD_CALLER, UPLOAD_CALLER_NAME, UPLOAD_CALLEE,
               "+46709990009", CALLER, CALLEE, CALLER_NAME, customer.webhook_secret,
               TWILIO_TOKEN, ELKS_PASSWORD, TELNYX_API_KEY, token, token.rsplit(".", 1)[-1],
               services.settings.s3_secret_key.get_secret_value()]
    planted += [part for part in (services.settings.master_keys.get_secret_value()  # type: ignore[union-attr]
                                  .split(":")) if len(part) > 20]
    haystack = "\n".join([logs, *scanned])
    found = sorted({(value, form) for value in planted for form in _forms(value)
                    if form.lower() in haystack.lower()})
    assert not found, found
    for piece in (audio[200:232], audio[-32:]):  # audio bytes, raw, hex or base64
        for form in (repr(piece)[2:-1], piece.hex(), base64.b64encode(piece).decode()):
            assert form not in haystack
