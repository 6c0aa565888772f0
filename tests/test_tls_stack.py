"""`recstore up --tls` as a user runs it: every link verified TLS, the whole recording life over it;
and the attacker's side: a wrong CA, an expired certificate, another host's certificate and a
downgrade to plain are each refused, for S3 and for PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
import urllib3
from minio import Minio
from test_cli_up import Up, cli

from factories import upload_headers, wav
from portal_helpers import csrf_of
from recstore.devstack.files import settings_for
from recstore.devstack.postgres_tls import find_ssl_postgres, major_version
from recstore.devstack.processes import EmbeddedStackError
from recstore.devstack.stack import EmbeddedStack
from recstore.object_store import ObjectStore, ObjectStoreError
from recstore.settings import Settings
from recstore.tls import local_ca
from recstore.tls.errors import TLSConfigError
from recstore.tls.policy import check_postgres, check_s3

PASSWORD = "a long test password"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    running = Up(tmp_path_factory.mktemp("tls") / "data", "--tls")
    try:
        yield running
    finally:
        assert running.stop() == 0


def _https(up: Up, method: str, path: str, body: bytes | None = None,
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    ctx = ssl.create_default_context(cafile=up.info["ca_file"])
    request = urllib.request.Request(up.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30, context=ctx) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _login(up: Up, email: str) -> dict[str, str]:
    status, _, body = _https(up, "POST", "/api/v1/auth/login",
                             json.dumps({"email": email, "password": PASSWORD}).encode(),
                             {"Content-Type": "application/json"})
    assert status == 200, body
    return {"Authorization": f"Bearer {json.loads(body)['access_token']}"}


def test_a_recording_lives_its_whole_life_over_verified_tls(up: Up) -> None:
    info, data_dir = up.info, up.info["data_dir"]
    assert set(info) == {"url", "database_url", "admin_database_url", "s3_endpoint", "s3_bucket",
                         "s3_access_key", "s3_secret_key", "data_dir", "ca_file"}
    assert up.url.startswith("https://") and info["s3_endpoint"].startswith("https://")
    status, _, body = _https(up, "GET", "/readyz")
    assert status == 200 and json.loads(body)["object_store"] is True, body
    for dsn in (info["database_url"], info["admin_database_url"]):
        assert "sslmode=verify-full" in dsn and f"sslrootcert={info['ca_file']}" in dsn
    customer = cli("customer", "create", "--data-dir", data_dir, "--name", "Fika AB",
                   "--email", "ops@fika.example")
    cid = customer["customer_id"]
    cli("user", "create", "--data-dir", data_dir, "--customer", cid, "--email", "anna@fika.example",
        "--role", "customer_admin", "--password-stdin", stdin=PASSWORD + "\n")
    staff_id = cli("staff", "create", "--data-dir", data_dir, "--email", "sam@recstore.example",
                   "--password-stdin", stdin=PASSWORD + "\n")["staff_id"]

    audio = wav(2.0)
    status, headers, body = _https(up, "POST", f"/webhooks/upload/{cid}", audio,
                                   upload_headers(customer["webhook_secret"], cid, audio))
    assert status == 201, body
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")
    rid = json.loads(body)["id"]

    admin = _login(up, "anna@fika.example")
    status, _, body = _https(up, "GET", "/api/v1/recordings", headers=admin)
    assert status == 200 and [r["id"] for r in json.loads(body)["items"]] == [rid]
    status, _, body = _https(up, "GET", f"/api/v1/recordings/{rid}/audio", headers=admin)
    assert status == 200 and body == audio
    status, _, body = _https(up, "GET", f"/api/v1/recordings/{rid}/audio",
                             headers={**admin, "Range": "bytes=10-99"})
    assert status == 206 and body == audio[10:100]

    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    status, _, body = _https(up, "POST", "/api/v1/grants", json.dumps({
        "recording_ids": [rid], "staff_id": staff_id, "purpose": "ticket 7",
        "expires_at": expires}).encode(), {**admin, "Content-Type": "application/json"})
    assert status == 201, body
    status, _, body = _https(up, "GET", f"/staff/v1/recordings/{rid}/audio",
                             headers=_login(up, "sam@recstore.example"))
    assert status == 200 and body == audio

    # The bucket, listed through verified TLS, holds ciphertext only.
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=info["ca_file"])
    bucket = Minio(urlsplit(info["s3_endpoint"]).netloc, access_key=info["s3_access_key"],
                   secret_key=info["s3_secret_key"], secure=True, region="eu-north-1",
                   http_client=http)
    keys = [o.object_name for o in bucket.list_objects(info["s3_bucket"], recursive=True)]
    assert len(keys) == 1 and rid in str(keys[0])
    stored = bucket.get_object(info["s3_bucket"], str(keys[0])).read()
    assert audio[44:1000] not in stored

    doctor = cli("doctor", "--data-dir", data_dir)
    assert doctor["ok"] and doctor["checks"]["tls"]["ok"]
    for name in ("clients", "s3", "postgres", "postgres_admin"):
        assert doctor["links"][name]["transport"] == "tls" and doctor["links"][name]["verified"]
    assert doctor["links"]["clients"]["peer"] == urlsplit(up.url).netloc
    assert "127.0.0.1" in doctor["links"]["clients"]["certificate"]["names"]
    assert doctor["links"]["s3"]["checked"]["version"] in {"TLSv1.2", "TLSv1.3"}
    assert doctor["links"]["postgres"]["checked"]["ssl"] is True


async def test_portal_login_over_tls(up: Up) -> None:
    """The browser path: portal page, CSRF-checked login form, Secure session cookie, HSTS."""
    data_dir = up.info["data_dir"]
    cid = cli("customer", "create", "--data-dir", data_dir, "--name", "Portal AB",
              "--email", "ops@portal.example")["customer_id"]
    cli("user", "create", "--data-dir", data_dir, "--customer", cid, "--email", "pia@portal.example",
        "--role", "customer_user", "--password-stdin", stdin=PASSWORD + "\n")
    connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=up.info["ca_file"]))
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        front = await session.get(f"{up.url}/")
        assert front.status == 200
        login = await session.post(f"{up.url}/login", data={
            "email": "pia@portal.example", "password": PASSWORD,
            "csrf": csrf_of(await front.text())}, headers={"Origin": up.url}, allow_redirects=False)
        assert login.status == 303, await login.text()
        (cookie,) = [c for c in login.headers.getall("Set-Cookie")
                     if c.startswith("recstore_session=")]
        assert "Secure" in cookie and "HttpOnly" in cookie
        assert login.headers["Strict-Transport-Security"].startswith("max-age=63072000")
        assert 'name="password"' in await front.text()  # signed out: the login form
        home = await session.get(f"{up.url}/")  # signed in: the portal itself
        assert home.status == 200 and 'name="password"' not in await home.text()


def test_plain_http_and_plain_postgres_are_not_served(up: Up) -> None:
    with pytest.raises(OSError):  # the HTTPS port does not answer HTTP
        urllib.request.urlopen(up.url.replace("https://", "http://") + "/healthz", timeout=10)
    with pytest.raises(OSError):  # nor the S3 port
        urllib.request.urlopen(up.info["s3_endpoint"].replace("https://", "http://"), timeout=10)

    async def plain() -> None:
        dsn = up.info["admin_database_url"].split("?")[0] + "?sslmode=disable"
        await asyncpg.connect(dsn, timeout=10)

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):  # hba rejects non-TLS
        asyncio.run(plain())


# -- the attacker's side -------------------------------------------------------------------

class Impostor:
    """A server on loopback that presents ``ctx``'s certificate (or none: plain), for S3 as an
    HTTPS listener, for PostgreSQL after answering its SSLRequest ("N" when plain)."""

    def __init__(self, ctx: ssl.SSLContext | None, *, postgres: bool) -> None:
        self.ctx, self.postgres = ctx, postgres
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.postgres:
                await reader.readexactly(8)  # SSLRequest
                writer.write(b"S" if self.ctx else b"N")
                await writer.drain()
                if self.ctx is not None:
                    await writer.start_tls(self.ctx)
            await reader.read(1024)
            if self.ctx is None and not self.postgres:  # a plain HTTP server answers in plain
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Impostor:
        ssl_arg = self.ctx if not self.postgres else None
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=ssl_arg)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()


def _server_ctx(ca: local_ca.LocalCA, hosts: list[str], *, expired: bool = False) -> ssl.SSLContext:
    now = dt.datetime.now(dt.UTC)
    key = local_ca.new_key()
    cert = local_ca.make_leaf_cert(
        ca.key, ca.cert, key, hosts,
        not_before=now - dt.timedelta(days=30) if expired else None,
        not_after=now - dt.timedelta(days=1) if expired else None)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        pair = Path(tmp) / "pair.pem"
        pair.write_bytes(local_ca.key_pem(key) + local_ca.cert_pem(cert))
        ctx.load_cert_chain(pair)
    return ctx


@pytest.fixture(scope="module")
def stack_ca(up: Up) -> local_ca.LocalCA:
    """The CA recstore trusts, which an attacker who stole nothing cannot sign with: tests use
    its key only to build the cases that need a certificate the CA did sign (expired, other host)."""
    return local_ca.ensure_ca(Path(up.info["ca_file"]).parent)


@pytest.fixture
def other_ca(tmp_path: Path) -> local_ca.LocalCA:
    return local_ca.ensure_ca(tmp_path / "evil", "evil CA")


@pytest.fixture
def tls_settings(up: Up) -> Settings:
    runtime = json.loads((Path(up.info["data_dir"]) / "runtime.json").read_text())
    return settings_for(Path(up.info["data_dir"]), runtime)


def _with_endpoint(settings: Settings, port: int, **update: Any) -> Settings:
    return settings.model_copy(update={"s3_endpoint": f"https://127.0.0.1:{port}", **update})


async def _s3_refused(settings: Settings) -> str:
    with pytest.raises(TLSConfigError) as caught:
        await check_s3(settings)
    store = ObjectStore(settings.s3_endpoint, "key", "secret", "recstore", "eu-north-1",
                        ca_file=settings.s3_ca_file)
    with pytest.raises(ObjectStoreError):  # the data path refuses too, not only the preflight
        await store.ping()
    assert caught.value.variable in {"RECSTORE_S3_CA_FILE", "RECSTORE_S3_ENDPOINT"}
    return caught.value.detail


async def test_s3_with_a_wrong_ca_is_refused(tls_settings: Settings, other_ca: local_ca.LocalCA) -> None:
    wrong = tls_settings.model_copy(update={"s3_ca_file": other_ca.cert_file})
    assert "does not verify against the trusted CA" in await _s3_refused(wrong)


async def test_s3_impostors_are_refused(tls_settings: Settings, stack_ca: local_ca.LocalCA,
                                        other_ca: local_ca.LocalCA) -> None:
    cases = [(_server_ctx(other_ca, ["127.0.0.1"]), "does not verify against the trusted CA"),
             (_server_ctx(stack_ca, ["127.0.0.1"], expired=True), "has expired"),
             (_server_ctx(stack_ca, ["s3.example"]), "is for another host"),
             (None, "does not speak TLS")]
    for ctx, words in cases:
        async with Impostor(ctx, postgres=False) as impostor:
            assert words in await _s3_refused(_with_endpoint(tls_settings, impostor.port))


def _pg_dsn(settings: Settings, port: int | None = None, **params: str) -> str:
    base, _, query = settings.database_url.get_secret_value().partition("?")
    pairs = dict(p.split("=", 1) for p in query.split("&"))
    pairs.update(params)
    if port is not None:
        base = base.replace(urlsplit(base).netloc.split("@")[1], f"127.0.0.1:{port}")
    return base + "?" + "&".join(f"{k}={v}" for k, v in pairs.items())


async def _pg_refused(dsn: str) -> str:
    with pytest.raises(TLSConfigError) as caught:
        await check_postgres("RECSTORE_DATABASE_URL", dsn)
    assert caught.value.variable == "RECSTORE_DATABASE_URL" and "sslkey" not in caught.value.detail
    return caught.value.detail


async def test_postgres_with_a_wrong_ca_is_refused(tls_settings: Settings,
                                                   other_ca: local_ca.LocalCA) -> None:
    ok = await check_postgres("RECSTORE_DATABASE_URL", tls_settings.database_url.get_secret_value())
    assert ok["ssl"] is True
    detail = await _pg_refused(_pg_dsn(tls_settings, sslrootcert=str(other_ca.cert_file)))
    assert "does not verify against the trusted CA" in detail


async def test_postgres_impostors_are_refused(tls_settings: Settings, stack_ca: local_ca.LocalCA,
                                              other_ca: local_ca.LocalCA) -> None:
    cases = [(_server_ctx(other_ca, ["127.0.0.1"]), "does not verify against the trusted CA"),
             (_server_ctx(stack_ca, ["127.0.0.1"], expired=True), "has expired"),
             (_server_ctx(stack_ca, ["db.example"]), "is for another host"),
             (None, "does not offer TLS")]
    for ctx, words in cases:
        async with Impostor(ctx, postgres=True) as impostor:
            assert words in await _pg_refused(_pg_dsn(tls_settings, impostor.port))



def test_commands_stop_naming_the_variable_when_a_ca_does_not_verify_its_peer(
        up: Up, tls_settings: Settings, other_ca: local_ca.LocalCA) -> None:
    s = tls_settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSTORE_")}
    env.update({
        "RECSTORE_DATABASE_URL": s.database_url.get_secret_value(),
        "RECSTORE_S3_ENDPOINT": s.s3_endpoint, "RECSTORE_S3_CA_FILE": str(s.s3_ca_file),
        "RECSTORE_S3_ACCESS_KEY": s.s3_access_key.get_secret_value(),
        "RECSTORE_S3_SECRET_KEY": s.s3_secret_key.get_secret_value(),
        "RECSTORE_MASTER_KEYS_FILE": str(s.master_keys_file),
        "RECSTORE_EPOCH_KEYS_FILE": str(s.epoch_keys_file),
        "RECSTORE_INGEST_KEYS_FILE": str(s.ingest_keys_file),
        "RECSTORE_STAFF_KEY_FILE": str(s.staff_key_file),
        "RECSTORE_JWT_PRIVATE_KEY_FILE": str(s.jwt_private_key_file), "RECSTORE_PORT": "0"})
    cases = {"RECSTORE_S3_CA_FILE": {"RECSTORE_S3_CA_FILE": str(other_ca.cert_file)},
             "RECSTORE_DATABASE_URL": {"RECSTORE_DATABASE_URL": _pg_dsn(
                 s, sslrootcert=str(other_ca.cert_file))}}
    commands = {"RECSTORE_S3_CA_FILE": [["serve"], ["migrate"]],
                "RECSTORE_DATABASE_URL": [["serve"], ["migrate"], ["worker"],
                                          ["customer", "create", "--name", "N", "--email", "n@n.example"]]}
    for variable, change in cases.items():
        for command in commands[variable]:
            done = subprocess.run([sys.executable, "-m", "recstore.cli", *command],
                                  env={**env, **change}, capture_output=True, text=True,
                                  timeout=60, check=False)
            assert done.returncode == 2, (command, done.stderr)
            assert f"configuration error: {variable}: " in done.stderr
            assert "does not verify against the trusted CA" in done.stderr
            assert "Traceback" not in done.stderr
            assert s.s3_secret_key.get_secret_value() not in done.stderr


def test_a_plain_data_dir_is_not_half_started_with_tls(tmp_path: Path) -> None:
    """Its database was made by pgserver's PostgreSQL; --tls runs another one. Refused before
    any server starts, so no job (the janitor above all) ever sees objects without their rows."""
    plain = EmbeddedStack(tmp_path / "data")
    plain.start()
    plain.stop()
    made_by = (tmp_path / "data" / "pg" / "PG_VERSION").read_text().strip()
    tls = EmbeddedStack(tmp_path / "data", tls=True)
    if made_by == major_version(find_ssl_postgres()):  # the same PostgreSQL: switching modes just works
        assert tls.start().database_url.startswith("postgresql://postgres@127.0.0.1:")
        tls.stop()
        return
    with pytest.raises(EmbeddedStackError, match="use a new --data-dir"):
        tls.start()
    assert not (tmp_path / "data" / "pg" / "postmaster.pid").exists()


def test_restarting_with_tls_keeps_every_recording(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Up(data_dir, "--tls")
    try:
        cid = cli("customer", "create", "--data-dir", str(data_dir), "--name", "Keep AB",
                  "--email", "ops@keep.example")["customer_id"]
        (tmp_path / "vm.wav").write_bytes(wav(1.0))
        sent = cli("upload", str(tmp_path / "vm.wav"), "--customer", cid, "--data-dir", str(data_dir))
        assert sent["status"] == 201
    finally:
        assert first.stop() == 0
    second = Up(data_dir, "--tls")
    try:
        assert second.info["ca_file"] == first.info["ca_file"]
        cli("user", "create", "--data-dir", str(data_dir), "--customer", cid,
            "--email", "kim@keep.example", "--role", "customer_user", "--password-stdin",
            stdin=PASSWORD + "\n")
        status, _, body = _https(second, "GET", "/api/v1/recordings",
                                 headers=_login(second, "kim@keep.example"))
        assert status == 200 and [r["id"] for r in json.loads(body)["items"]] == [sent["id"]]
    finally:
        assert second.stop() == 0
