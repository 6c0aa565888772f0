"""`serve` over HTTPS: the intermediate profile, HSTS, certificate reloads that drop nothing, and
plain HTTP on the HTTPS port left unanswered. Clients here are the attacker or a browser."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import ssl
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from recstore.runner import run_services
from recstore.services import Services
from recstore.tls import local_ca
from recstore.tls.errors import TLSConfigError
from recstore.tls.server import ServerTLS, server_context

ONE_YEAR = 365 * 24 * 3600


@dataclass
class Pki:
    ca: local_ca.LocalCA
    directory: Path

    def issue(self, name: str, hosts: list[str] | None = None, *,
              not_before: dt.datetime | None = None,
              not_after: dt.datetime | None = None) -> local_ca.Issued:
        key = local_ca.new_key()
        cert = local_ca.make_leaf_cert(self.ca.key, self.ca.cert, key, hosts or ["127.0.0.1"],
                                       not_before=not_before, not_after=not_after)
        issued = local_ca.Issued(self.directory / f"{name}.pem", self.directory / f"{name}-key.pem")
        local_ca.write_file(issued.key_file, local_ca.key_pem(key), 0o600)
        local_ca.write_file(issued.cert_file, local_ca.cert_pem(cert), 0o644)
        return issued

    def client(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca.cert_file))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(local_ca.ensure_ca(tmp_path / "ca"), tmp_path)


@pytest.fixture
async def https(services: Services, pki: Pki) -> AsyncIterator[tuple[str, ServerTLS]]:
    leaf = pki.issue("api")
    tls = ServerTLS(leaf.cert_file, leaf.key_file)
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def announce(url: str) -> None:
        ready.set_result(url)

    task = asyncio.create_task(run_services(services, api=True, worker=False, host="127.0.0.1",
                                            port=0, stop=stop, on_ready=announce, tls=tls))
    try:
        yield await asyncio.wait_for(ready, timeout=10), tls
    finally:
        stop.set()
        await task


async def _request(url: str, ctx: ssl.SSLContext | None, path: str = "/healthz",
                   ) -> tuple[bytes, x509.Certificate | None]:
    """One HTTP/1.1 GET on a fresh connection: the raw answer and the certificate served."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=ctx)
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True) if ctx else None
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    return data, x509.load_der_x509_certificate(der) if der else None


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def _hsts_max_age(answer: bytes) -> int:
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    values = [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
              if line.lower().startswith("strict-transport-security:")]
    assert len(values) == 1, head
    return int(values[0].split(";")[0].strip().removeprefix("max-age="))


async def test_https_answers_with_hsts_on_every_route(https: tuple[str, ServerTLS], pki: Pki) -> None:
    url, _ = https
    assert url.startswith("https://")
    for path in ("/healthz", "/api/v1/recordings", "/no/such/route", "/bad path"):
        answer, _ = await _request(url, pki.client(), path)
        assert answer.startswith(b"HTTP/1."), answer[:50]
        assert _hsts_max_age(answer) >= ONE_YEAR
    answer, _ = await _request(url, pki.client(), "/" + "x" * 9000)  # refused before routing
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")) and _hsts_max_age(answer) >= ONE_YEAR


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
async def test_tls_12_and_13_are_served(https: tuple[str, ServerTLS], pki: Pki,
                                        version: ssl.TLSVersion) -> None:
    ctx = pki.client()
    ctx.minimum_version = ctx.maximum_version = version
    parts = urlsplit(https[0])
    _, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=ctx)
    assert writer.get_extra_info("ssl_object").version() == version.name.replace("_", ".")
    writer.close()


async def test_old_protocols_and_weak_ciphers_are_refused(https: tuple[str, ServerTLS],
                                                          pki: Pki) -> None:
    parts = urlsplit(https[0])
    old = pki.client()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # so this client really offers TLS 1.0/1.1
    with pytest.raises((ssl.SSLError, ConnectionError)) as refused:
        await asyncio.open_connection(parts.hostname, parts.port, ssl=old)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)  # the server said no, not we
    for weak in ("AES128-SHA", "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        ctx = pki.client()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(weak)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await asyncio.open_connection(parts.hostname, parts.port, ssl=ctx)


async def test_plain_http_to_the_https_port_is_not_served(https: tuple[str, ServerTLS]) -> None:
    answer, _ = await _request(https[0], None)
    assert b"ok" not in answer.lower() and b"HTTP/1.1 200" not in answer


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """GET /healthz on an open keep-alive connection; the status line."""
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return head.split(b"\r\n", 1)[0]


async def test_sighup_reloads_the_certificate_without_dropping_connections(
        https: tuple[str, ServerTLS], pki: Pki) -> None:
    url, tls = https
    parts = urlsplit(url)
    _, served = await _request(url, pki.client())
    assert served is not None and served.serial_number == _serial(tls.cert_file)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, ssl=pki.client())
    assert await _exchange(reader, writer) == b"HTTP/1.1 200 OK"

    renewed = pki.issue("api")  # same paths, new key and serial: what certbot does
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(500):
        if tls.reloads:
            break
        await asyncio.sleep(0.02)
    assert tls.reloads == 1
    _, served = await _request(url, pki.client())
    assert served is not None and served.serial_number == _serial(renewed.cert_file)
    # The connection opened before the reload still works.
    assert await _exchange(reader, writer) == b"HTTP/1.1 200 OK"
    writer.close()


async def test_changed_files_are_picked_up_and_a_bad_pair_keeps_the_old_one(
        https: tuple[str, ServerTLS], pki: Pki) -> None:
    url, tls = https
    stop = asyncio.Event()
    watcher = asyncio.create_task(tls.watch(stop, interval=0.02))
    try:
        renewed = pki.issue("api")
        for _ in range(500):
            if tls.reloads:
                break
            await asyncio.sleep(0.02)
        assert tls.reloads == 1
        other = pki.issue("other")
        tls.key_file.write_bytes(other.key_file.read_bytes())  # key of another certificate
        assert tls.reload() is False
        _, served = await _request(url, pki.client())
        assert served is not None and served.serial_number == _serial(renewed.cert_file)
    finally:
        stop.set()
        await watcher


def test_bad_pairs_name_the_variable(pki: Pki, tmp_path: Path) -> None:
    good, other = pki.issue("good"), pki.issue("other")
    missing = tmp_path / "missing.pem"
    cert_var, key_var = "RECSTORE_TLS_CERT_FILE", "RECSTORE_TLS_KEY_FILE"
    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: server_context(good.cert_file, other.key_file), key_var, "does not belong"),
        (lambda: server_context(missing, good.key_file), cert_var, "cannot read"),
        (lambda: server_context(good.cert_file, missing), key_var, "cannot read"),
        (lambda: server_context(good.key_file, good.key_file), cert_var, "no PEM certificate"),
        (lambda: server_context(good.cert_file, good.cert_file), key_var, "no usable private key"),
    ]
    now = dt.datetime.now(dt.UTC)
    expired = pki.issue("expired", not_before=now - dt.timedelta(days=30),
                        not_after=now - dt.timedelta(days=1))
    cases.append((lambda: server_context(expired.cert_file, expired.key_file),
                  "RECSTORE_TLS_CERT_FILE", "expired"))
    for make, variable, words in cases:
        with pytest.raises(TLSConfigError) as caught:
            make()
        assert caught.value.variable == variable and words in caught.value.detail


def _serve(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RECSTORE_")}
    base.update({"RECSTORE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
                 "RECSTORE_S3_ENDPOINT": "https://127.0.0.1:1", "RECSTORE_S3_ACCESS_KEY": "k",
                 "RECSTORE_S3_SECRET_KEY": "s", "RECSTORE_MASTER_KEYS": "k1:" + "A" * 43 + "=",
                 "RECSTORE_INGEST_KEYS": "i1:" + "C" * 43 + "=",
                 "RECSTORE_STAFF_KEY_FILE": "/nonexistent/staff.key",
                 "RECSTORE_EPOCH_KEYS_FILE": "/nonexistent/epochs.json",
                 "RECSTORE_JWT_PRIVATE_KEY_FILE": "/nonexistent/jwt.pem", **env})
    return subprocess.run([sys.executable, "-m", "recstore.cli", *(command or ("serve",))],
                          env=base, capture_output=True, text=True, timeout=60, check=False)


def test_serve_stops_with_the_variable_named_and_never_falls_back_to_plain(
        pki: Pki, tmp_path: Path) -> None:
    good, other = pki.issue("good"), pki.issue("other")
    unreadable = tmp_path / "unreadable.pem"
    cases = [
        ({"RECSTORE_TLS_CERT_FILE": str(good.cert_file), "RECSTORE_TLS_KEY_FILE": str(other.key_file)},
         "RECSTORE_TLS_KEY_FILE"),
        ({"RECSTORE_TLS_CERT_FILE": str(unreadable), "RECSTORE_TLS_KEY_FILE": str(good.key_file)},
         "RECSTORE_TLS_CERT_FILE"),
        ({"RECSTORE_TLS_CERT_FILE": str(good.cert_file)}, "RECSTORE_TLS_KEY_FILE"),
        ({"RECSTORE_S3_CA_FILE": str(tmp_path / "no-ca.pem")}, "RECSTORE_S3_CA_FILE"),
        ({"RECSTORE_S3_CA_FILE": str(good.key_file)}, "RECSTORE_S3_CA_FILE"),
        ({"RECSTORE_S3_CA_FILE": str(pki.ca.cert_file), "RECSTORE_S3_ENDPOINT": "http://s3.example:9000"},
         "RECSTORE_S3_CA_FILE"),
        ({"RECSTORE_REQUIRE_TLS": "true", "RECSTORE_S3_ENDPOINT": "http://s3.example:9000"},
         "RECSTORE_S3_ENDPOINT"),
        ({"RECSTORE_REQUIRE_TLS": "true", "RECSTORE_HOST": "0.0.0.0"}, "RECSTORE_TLS_CERT_FILE"),
        ({"RECSTORE_REQUIRE_TLS": "true", "RECSTORE_S3_ENDPOINT": "https://s3.example",
          "RECSTORE_DATABASE_URL": "postgresql://u:pw@db.example/recstore?sslmode=require"},
         "RECSTORE_DATABASE_URL"),
    ]
    for env, variable in cases:
        done = _serve(env)
        assert done.returncode == 2, (env, done.stderr)
        assert f"configuration error: {variable}" in done.stderr, (env, done.stderr)
        assert "Traceback" not in done.stderr and "pw" not in done.stderr.replace("pwd", "")
    worker = _serve({"RECSTORE_TLS_CERT_FILE": str(good.cert_file),
                     "RECSTORE_TLS_KEY_FILE": str(other.key_file), "RECSTORE_METRICS_PORT": "0"},
                    "worker")
    assert worker.returncode == 2 and "RECSTORE_TLS_KEY_FILE" in worker.stderr


async def test_the_worker_metrics_port_is_https_too(services: Services, pki: Pki) -> None:
    leaf = pki.issue("metrics")
    tls = ServerTLS(leaf.cert_file, leaf.key_file)
    svc = Services(**{**vars(services), "settings": services.settings.model_copy(
        update={"metrics_port": 0})})
    stop, ready = asyncio.Event(), asyncio.get_running_loop().create_future()

    async def announce(url: str) -> None:
        ready.set_result(url)

    task = asyncio.create_task(run_services(svc, api=False, worker=False, host="127.0.0.1",
                                            port=0, stop=stop, on_ready=announce, tls=tls))
    try:
        url = await asyncio.wait_for(ready, timeout=10)
        assert url.startswith("https://")
        answer, _ = await _request(url, pki.client(), "/metrics")
        assert answer.startswith(b"HTTP/1.1 200") and _hsts_max_age(answer) >= ONE_YEAR
        plain, _ = await _request(url, None, "/metrics")
        assert b"HTTP/1.1 200" not in plain
    finally:
        stop.set()
        await task
