"""The HTTPS listener's TLS: Mozilla's "intermediate" profile, and certificate reloads that keep
every open connection.

Reloading works through the SNI callback, which OpenSSL calls for every ClientHello (with or
without a server name): it moves the new handshake onto the newest context. Connections already
established keep the context they began with, so nothing is dropped; a reload that fails (a
half-written file, a key that does not match) is logged and the last good pair stays in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import ssl
from pathlib import Path

from cryptography import x509

from recstore.tls.errors import TLSConfigError

log = logging.getLogger("recstore.tls")

CERT_VARIABLE = "RECSTORE_TLS_CERT_FILE"
KEY_VARIABLE = "RECSTORE_TLS_KEY_FILE"
# Mozilla server-side TLS, "intermediate" (v5.7), TLS 1.2 suites; TLS 1.3's are OpenSSL's
# defaults, which are exactly the profile's three. The DHE suites need DH parameters, which
# Python loads only from a file: without one OpenSSL simply never picks them.
INTERMEDIATE_CIPHERS = ":".join((
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
))
# Two years, as Mozilla recommends; browsers then refuse plain HTTP to this host.
HSTS_VALUE = "max-age=63072000; includeSubDomains"
WATCH_SECONDS = 10.0


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(variable, f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None


def check_certificate(cert_pem: bytes, path: Path, variable: str = CERT_VARIABLE) -> x509.Certificate:
    """The leaf of a PEM chain, refused when it is not PEM or not valid at this moment."""
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise TLSConfigError(variable, f"{path} holds no PEM certificate") from None
    leaf = chain[0]
    now = dt.datetime.now(dt.UTC)
    if leaf.not_valid_after_utc <= now:
        raise TLSConfigError(variable, f"the certificate in {path} expired on "
                                       f"{leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
    if leaf.not_valid_before_utc > now:
        raise TLSConfigError(variable, f"the certificate in {path} is not valid before "
                                       f"{leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return leaf


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server context with the intermediate profile and this certificate; TLSConfigError names
    the variable whose file is unreadable, malformed, expired or does not match the other."""
    check_certificate(_read(cert_file, CERT_VARIABLE), cert_file)
    _read(key_file, KEY_VARIABLE)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ciphers(INTERMEDIATE_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise TLSConfigError(KEY_VARIABLE, f"the key in {key_file} does not belong to the "
                                               f"certificate in {cert_file}") from None
        raise TLSConfigError(KEY_VARIABLE, f"{key_file} holds no usable private key "
                                           "(PEM, unencrypted)") from None
    except OSError as exc:
        raise TLSConfigError(KEY_VARIABLE, f"cannot load {key_file}: "
                                           f"{exc.strerror or type(exc).__name__}") from None
    return ctx


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class ServerTLS:
    """The context to give the listener (`context`), and `reload()` for SIGHUP and file changes."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._stamps = self._file_stamps()
        self.context = server_context(cert_file, key_file)
        self.context.sni_callback = self._use_current
        self._current = self.context
        self.reloads = 0

    def _file_stamps(self) -> tuple[tuple[int, int, int] | None, ...]:
        return _stamp(self.cert_file), _stamp(self.key_file)

    def _use_current(self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
                     outer: ssl.SSLContext) -> None:
        current = self._current
        if current is not outer:
            sslobj.context = current

    def reload(self) -> bool:
        """Load the files again; True when the new pair is in use for new connections."""
        stamps = self._file_stamps()
        try:
            fresh = server_context(self.cert_file, self.key_file)
        except TLSConfigError as exc:
            log.error("TLS certificate not reloaded, the previous one stays in use: %s", exc.detail)
            return False
        self._stamps = stamps
        self._current = fresh
        self.reloads += 1
        log.info("TLS certificate reloaded", extra={"cert_file": str(self.cert_file)})
        return True

    def reload_if_changed(self) -> bool:
        if self._file_stamps() == self._stamps:
            return False
        return self.reload()

    async def watch(self, stop: asyncio.Event, interval: float = WATCH_SECONDS) -> None:
        """Reload whenever either file changes (certbot, cert-manager and the like replace them)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if not stop.is_set():
                await asyncio.to_thread(self.reload_if_changed)


def server_tls_for(cert_file: Path | None, key_file: Path | None) -> ServerTLS | None:
    if cert_file is None and key_file is None:
        return None
    if cert_file is None or key_file is None:
        missing = CERT_VARIABLE if cert_file is None else KEY_VARIABLE
        raise TLSConfigError(missing, f"set both {CERT_VARIABLE} and {KEY_VARIABLE}, or neither")
    return ServerTLS(cert_file, key_file)
