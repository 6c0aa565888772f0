"""Every network link recstore has, judged `tls` or `plain` from its configuration, and the
RECSTORE_REQUIRE_TLS policy over them.

A link counts as TLS only when it cannot quietly fall back: PostgreSQL's default `prefer` (and
`allow`) take plain when the server offers no TLS, so they are `plain` here. `require` and
`verify-ca` are TLS but not `verified` (no host-name check), and the policy refuses them too.
Loopback peers (127.0.0.0/8, ::1, `localhost`, a Unix socket) never leave the machine and are
allowed plain.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from recstore.tls.errors import TLSConfigError

Transport = Literal["tls", "plain"]
PG_TLS_MODES = frozenset({"require", "verify-ca", "verify-full"})


@dataclass(frozen=True)
class Link:
    name: str
    variable: str  # the setting that decides this link
    peer: str  # host:port, or a Unix socket's directory
    transport: Transport
    verified: bool  # the peer's certificate chain and host name are checked
    loopback: bool

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "name"}

    @property
    def acceptable(self) -> bool:
        """What RECSTORE_REQUIRE_TLS accepts."""
        return self.loopback or (self.transport == "tls" and self.verified)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.startswith("/") or host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_link(name: str, variable: str, url: str, *, verified_when_tls: bool = True) -> Link:
    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    return Link(name, variable, f"{host}:{port}", "tls" if tls else "plain",
                tls and verified_when_tls, is_loopback(host))


def listener_link(name: str, variable: str, host: str, port: int, tls: bool) -> Link:
    # Clients verify recstore; from recstore's side a TLS listener is as verified as it gets.
    return Link(name, variable, f"{host}:{port}", "tls" if tls else "plain", tls, is_loopback(host))


def postgres_link(name: str, variable: str, dsn: str) -> Link:
    parts = urlsplit(dsn)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    hosts = query.get("host") or unquote(parts.hostname or "") or os.environ.get("PGHOST", "")
    host = hosts.split(",")[0] or "/run/postgresql"
    port = query.get("port") or (str(parts.port) if parts.port else "5432")
    mode = query.get("sslmode") or os.environ.get("PGSSLMODE") or "prefer"
    peer = host if host.startswith("/") else f"{host}:{port}"
    unix = host.startswith("/")
    tls = mode in PG_TLS_MODES and not unix  # PostgreSQL never uses TLS on a Unix socket
    return Link(name, variable, peer, "tls" if tls else "plain", tls and mode == "verify-full",
                is_loopback(host))


def smtp_link(host: str, port: int, starttls: bool) -> Link:
    # smtplib.starttls with ssl.create_default_context(): chain and host name are verified.
    return Link("smtp", "RECSTORE_NOTIFY_SMTP_STARTTLS", f"{host}:{port}",
                "tls" if starttls else "plain", starttls, is_loopback(host))


def url_link(name: str, variable: str, url: str) -> Link:
    return _url_link(name, variable, url)


def enforce(links: list[Link]) -> None:
    """RECSTORE_REQUIRE_TLS=true: refuse a plain (or unverified) link to anything off-host."""
    for link in links:
        if not link.acceptable:
            what = "is plain" if link.transport == "plain" else "does not verify the server's host name"
            raise TLSConfigError(link.variable, f"RECSTORE_REQUIRE_TLS is set and the {link.name} "
                                                f"link to {link.peer} {what}")
