"""Which links count as TLS, and what RECSTORE_REQUIRE_TLS lets through: a DSN that could fall
back to plain is plain, TLS without a host-name check is refused off-host, loopback is fine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from factories import Tenant
from recstore.consent.notify import Notice, NotifySettings
from recstore.consent.notify_channels import WebhookNotifier, set_webhook
from recstore.errors import Invalid
from recstore.services import Services
from recstore.tls.errors import TLSConfigError
from recstore.tls.links import enforce, is_loopback, postgres_link, url_link
from recstore.tls.policy import links_for


@pytest.mark.parametrize(("dsn", "transport", "verified", "loopback"), [
    ("postgresql://u:p@db.example/x", "plain", False, False),  # prefer: may fall back
    ("postgresql://u:p@db.example/x?sslmode=prefer", "plain", False, False),
    ("postgresql://u:p@db.example/x?sslmode=require", "tls", False, False),
    ("postgresql://u:p@db.example/x?sslmode=verify-ca", "tls", False, False),
    ("postgresql://u:p@db.example:6432/x?sslmode=verify-full&sslrootcert=/ca.pem", "tls", True, False),
    ("postgresql://u@/x?host=/run/postgresql", "plain", False, True),  # a Unix socket
    ("postgresql://u:p@127.0.0.1:5432/x", "plain", False, True),
    ("postgresql://u:p@[::1]:5432/x?sslmode=verify-full", "tls", True, True),
])
def test_postgres_links(dsn: str, transport: str, verified: bool, loopback: bool,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    link = postgres_link("postgres", "RECSTORE_DATABASE_URL", dsn)
    assert (link.transport, link.verified, link.loopback) == (transport, verified, loopback)
    assert "p@" not in link.peer  # the peer never carries the password


def test_loopback_is_judged_by_address_never_by_a_name_that_could_resolve_anywhere() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "/tmp/s"]))
    assert not any(map(is_loopback, ["10.0.0.1", "localhost.example", "minio", "0.0.0.0", ""]))


def test_require_tls_refuses_each_kind_of_weak_link(make_settings: Any) -> None:
    strong: dict[str, Any] = {
        "require_tls": True, "host": "0.0.0.0", "tls_cert_file": "/c.pem",
        "tls_key_file": "/k.pem", "s3_endpoint": "https://s3.example",
        "database_url": "postgresql://u:p@db.example/x?sslmode=verify-full"}
    enforce(links_for(make_settings(**strong)))  # all verified: nothing raised
    weak = {"RECSTORE_TLS_CERT_FILE": {"tls_cert_file": None, "tls_key_file": None},
            "RECSTORE_S3_ENDPOINT": {"s3_endpoint": "http://s3.example"},
            "RECSTORE_DATABASE_URL": {"database_url": "postgresql://u:p@db.example/x?sslmode=require"},
            "RECSTORE_JWT_JWKS_URL": {"jwt_jwks_url": "http://idp.example/jwks"}}
    for variable, change in weak.items():
        with pytest.raises(TLSConfigError) as caught:
            enforce(links_for(make_settings(**{**strong, **change})))
        assert caught.value.variable == variable
        assert "p@" not in caught.value.detail


async def test_require_tls_keeps_customer_webhooks_on_https(services: Services, tenant: Tenant) -> None:
    async with services.pool.acquire() as conn:
        with pytest.raises(Invalid):
            await set_webhook(conn, services.keys, tenant.customer_id, "http://hooks.example/x",
                              require_tls=True)
        await set_webhook(conn, services.keys, tenant.customer_id, "http://127.0.0.1:9/x",
                          require_tls=True)  # loopback may be plain
        await set_webhook(conn, services.keys, tenant.customer_id, "http://hooks.example/x")
        notice = Notice(uuid.uuid4(), tenant.customer_id, "grant.used", None, uuid.uuid4(),
                        uuid.uuid4(), uuid.uuid4(), datetime.now(UTC))
        sender = WebhookNotifier(NotifySettings(channel="webhook"), services.keys, require_tls=True)
        with pytest.raises(RuntimeError, match="RECSTORE_REQUIRE_TLS"):
            await sender.send(conn, notice)  # set before the policy: refused at send time
    assert url_link("x", "", "https://hooks.example/x").acceptable
