"""`recstore doctor`'s view of every link: `tls` or `plain`, the peer, and what a live
handshake with that peer showed (S3 and PostgreSQL are checked, not only read from settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from cryptography import x509

from recstore.settings import Settings
from recstore.tls.errors import TLSConfigError
from recstore.tls.links import Link, url_link
from recstore.tls.policy import check_postgres, check_s3, database_dsns, links_for, notify_links
from recstore.tls.server import CERT_VARIABLE, check_certificate


async def _notify_webhooks(settings: Settings) -> dict[str, Any]:
    """Customers' own notification URLs, as peers (host:port) only."""
    try:
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
        try:
            urls = [r["url"] for r in await conn.fetch("SELECT url FROM notification_webhooks")]
        finally:
            await conn.close()
    except Exception as exc:
        return {"error": type(exc).__name__}
    links = [url_link("notify_webhook", "customer set-notify-webhook", url) for url in urls
             if urlsplit(url).hostname]
    return {"tls": sum(link.transport == "tls" for link in links),
            "plain": sum(link.transport == "plain" for link in links),
            "plain_peers": sorted({link.peer for link in links if link.transport == "plain"}),
            "not_acceptable": sorted({link.peer for link in links if not link.acceptable})}


def _certificate(path: Path) -> dict[str, Any]:
    """What the listener serves: its names and expiry (renew before `not_after`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(CERT_VARIABLE, f"cannot read {path}: {exc.strerror}") from None
    leaf = check_certificate(data, path)
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        hosts = [str(n.value) for n in names]
    except x509.ExtensionNotFound:
        hosts = []
    return {"names": hosts, "not_after": leaf.not_valid_after_utc.isoformat()}


async def link_report(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(links by name, the "tls" check). The check fails when a live handshake fails, or when
    RECSTORE_REQUIRE_TLS is set and a link is not acceptable to it."""
    links: list[Link] = links_for(settings, extra=notify_links())
    report: dict[str, Any] = {link.name: link.as_dict() for link in links}
    failed: list[str] = []
    try:
        if report["s3"]["transport"] == "tls":
            report["s3"]["checked"] = await check_s3(settings)
    except TLSConfigError as exc:
        report["s3"]["error"] = exc.detail
        failed.append("s3")
    for name, variable, dsn in database_dsns(settings):
        try:
            report[name]["checked"] = await check_postgres(variable, dsn)
        except TLSConfigError as exc:
            report[name]["error"] = exc.detail
            failed.append(name)
    report["notify_webhooks"] = await _notify_webhooks(settings)
    if settings.tls_cert_file is not None:
        try:
            report["clients"]["certificate"] = _certificate(settings.tls_cert_file)
        except TLSConfigError as exc:
            report["clients"]["error"] = exc.detail
            failed.append("clients")
    refused = [link.name for link in links if not link.acceptable]
    if report["notify_webhooks"].get("not_acceptable"):
        refused.append("notify_webhooks")
    check = {"ok": not failed and not (settings.require_tls and refused),
             "require_tls": settings.require_tls, "failed": failed,
             "plain_or_unverified_off_host": refused}
    return report, check
