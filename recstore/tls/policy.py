"""The links of a configured process, and the checks that prove them before it serves.

`preflight()` runs at start-up of `serve`, `worker` and `up`: it loads every certificate and CA
the settings name and shakes hands with S3 and PostgreSQL, so a wrong CA, an expired or
mismatched certificate or a server that answers in plain stops the process with one line naming
the variable, instead of a traceback at the first request or a silent fall-back.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from recstore.settings import Settings
from recstore.tls.clients import S3_CA_VARIABLE, client_context, describe, probe
from recstore.tls.errors import TLSConfigError
from recstore.tls.links import Link, enforce, listener_link, postgres_link, smtp_link, url_link

DB_VARIABLE = "RECSTORE_DATABASE_URL"
ADMIN_DB_VARIABLE = "RECSTORE_ADMIN_DATABASE_URL"


def database_dsns(settings: Settings) -> list[tuple[str, str, str]]:
    """(link name, variable, DSN) of the app DSN and, where configured, the admin DSN."""
    dsns = [("postgres", DB_VARIABLE, settings.database_url.get_secret_value())]
    admin = getattr(settings, "admin_database_url", None)
    if admin is not None:
        dsns.append(("postgres_admin", ADMIN_DB_VARIABLE, admin.get_secret_value()))
    return dsns


def links_for(settings: Settings, *, api: bool = True, worker: bool = True,
              extra: list[Link] | None = None) -> list[Link]:
    tls = settings.tls_cert_file is not None
    links: list[Link] = []
    if api:
        links.append(listener_link("clients", "RECSTORE_TLS_CERT_FILE", settings.host,
                                   settings.port, tls))
    if (api or worker) and settings.metrics_port is not None:
        links.append(listener_link("metrics", "RECSTORE_TLS_CERT_FILE", settings.host,
                                   settings.metrics_port, tls))
    links.append(url_link("s3", "RECSTORE_S3_ENDPOINT", settings.s3_endpoint))
    links += [postgres_link(name, var, dsn) for name, var, dsn in database_dsns(settings)]
    if settings.jwt_jwks_url:
        links.append(url_link("jwks", "RECSTORE_JWT_JWKS_URL", settings.jwt_jwks_url))
    return links + (extra or [])


def s3_context(settings: Settings) -> ssl.SSLContext | None:
    """The verifying context for an https endpoint; a CA file with a plain endpoint is refused,
    as the operator asked for TLS and would silently not get it."""
    https = settings.s3_endpoint.startswith("https://")
    if settings.s3_ca_file is not None and not https:
        raise TLSConfigError(S3_CA_VARIABLE, "is set but RECSTORE_S3_ENDPOINT is http://; "
                                             "use https:// (nothing falls back to plain)")
    if not https:
        return None
    return client_context(settings.s3_ca_file, S3_CA_VARIABLE)


async def check_s3(settings: Settings) -> dict[str, Any]:
    """A verified handshake with the S3 endpoint: {"version", "cipher"}; TLSConfigError if not."""
    ctx = s3_context(settings)
    if ctx is None:
        return {}
    parts = urlsplit(settings.s3_endpoint)
    host, port = parts.hostname or "", parts.port or 443
    variable = S3_CA_VARIABLE if settings.s3_ca_file else "RECSTORE_S3_ENDPOINT"
    try:
        done = await asyncio.to_thread(probe, host, port, ctx)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(variable, f"S3 at {host}:{port}: {describe(exc)}") from None
    return {"version": done.version, "cipher": done.cipher}


def _postgres_reason(exc: BaseException) -> str:
    """Why asyncpg could not connect, without its message (which may quote the DSN's user)."""
    if "rejected SSL upgrade" in str(exc):  # asyncpg's words for a server answering "N"
        return "the server does not offer TLS (a plain listener or a downgrade)"
    if isinstance(exc, FileNotFoundError):
        return "a file named in the DSN (sslrootcert, sslcert, sslkey) does not exist"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return "the server refused this login (pg_hba.conf: TLS required? the right role?)"
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
        return f"the server refused the connection ({type(exc).__name__})"
    return describe(exc)


async def check_postgres(variable: str, dsn: str) -> dict[str, Any]:
    """Connect once; {"ssl", "version"} as the server itself reports the session."""
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except Exception as exc:  # asyncpg raises a wide mix; each is mapped to a reason
        raise TLSConfigError(variable, f"PostgreSQL: {_postgres_reason(exc)}") from None
    try:
        row = await conn.fetchrow(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await conn.close()
    return {"ssl": bool(row and row["ssl"]), "version": row["version"] if row else None}


def notify_links() -> list[Link]:
    """The SMTP relay's link when notifications go by mail (its settings are RECSTORE_NOTIFY_*)."""
    from recstore.consent.notify import NotifySettings

    notify = NotifySettings()
    if notify.channel == "smtp" and notify.smtp_host:
        return [smtp_link(notify.smtp_host, notify.smtp_port, notify.smtp_starttls)]
    return []


async def preflight(settings: Settings, *, api: bool, worker: bool,
                    extra: list[Link] | None = None) -> list[Link]:
    """Prove the S3 and PostgreSQL links; enforce RECSTORE_REQUIRE_TLS. Raises TLSConfigError.
    (The listener's own certificate is loaded, and so checked, by `server.server_tls_for`.)"""
    links = links_for(settings, api=api, worker=worker, extra=extra)
    if settings.require_tls:
        enforce(links)
    await check_s3(settings)
    for _, variable, dsn in database_dsns(settings):
        if variable == DB_VARIABLE:  # the admin DSN is only used by `migrate`
            await check_postgres(variable, dsn)
    return links
