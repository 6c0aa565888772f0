"""recstore as a TLS client: trust in a private CA, and handshakes that explain their failure.

Verification is never switched off: every context here has CERT_REQUIRED and host-name checks,
and a CA file that cannot be loaded stops start-up instead of falling back to plain or to
"accept anything".
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from recstore.tls.errors import TLSConfigError

S3_CA_VARIABLE = "RECSTORE_S3_CA_FILE"
PROBE_TIMEOUT = 10.0


def client_context(ca_file: Path | None, variable: str) -> ssl.SSLContext:
    """Verifying context: the system's CAs, or only ``ca_file`` when given; TLS 1.2 at least."""
    try:
        ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except FileNotFoundError:
        raise TLSConfigError(variable, f"{ca_file} does not exist") from None
    except PermissionError:
        raise TLSConfigError(variable, f"cannot read {ca_file}: permission denied") from None
    except (ssl.SSLError, OSError, ValueError):
        raise TLSConfigError(variable, f"{ca_file} holds no PEM CA certificate") from None
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def describe(exc: BaseException) -> str:
    """Why a handshake failed, in words an operator can act on (never a secret: only the
    peer's certificate problem or the transport's)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or exc.reason or "certificate verify failed"
        if exc.verify_code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return "the server's certificate has expired"
        if exc.verify_code in (18, 19, 20, 21):  # self-signed / unknown issuer
            return f"the server's certificate does not verify against the trusted CA ({reason})"
        if exc.verify_code == 62 or "Hostname mismatch" in reason or "IP address mismatch" in reason:
            return f"the server's certificate is for another host ({reason})"
        return f"the server's certificate was refused ({reason})"
    if isinstance(exc, ssl.SSLError):
        text = f"{exc.reason or ''} {exc}"
        if any(s in text for s in ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure",
                                   "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST", "http request")):
            return "the server does not speak TLS (a plain listener or a downgrade)"
        return f"TLS handshake failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError):  # refused, unreachable, timed out
        return f"cannot connect ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__


@dataclass(frozen=True)
class Handshake:
    version: str
    cipher: str


def probe(host: str, port: int, ctx: ssl.SSLContext, *, timeout: float = PROBE_TIMEOUT) -> Handshake:
    """One verified handshake with host:port (blocking); raises ssl/OSError errors unchanged."""
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        return Handshake(tls.version() or "?", (tls.cipher() or ("?",))[0])
