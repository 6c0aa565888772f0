"""Per-customer accounts at pull-style providers: credentials wrapped by the master keyring.

46elks signs nothing, so its webhook URL carries a token derived from the customer's webhook
secret (only the customer and recstore know it); it is kept with the credentials so the
webhook never needs the customer's secret itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from yarl import URL

from recstore.accounts.customers import customer_row, customer_secrets
from recstore.db import Connection, Pool
from recstore.errors import Invalid
from recstore.keys import KeyService

PROVIDERS = ("twilio", "46elks", "telnyx")
REQUIRED_CREDENTIALS = {
    "twilio": ("account_sid", "auth_token"),
    "46elks": ("username", "password"),
    "telnyx": ("public_key", "api_key"),
}
_TWILIO_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_ELKS_TOKEN_LABEL = b"recstore 46elks webhook url token v1"


@dataclass(frozen=True)
class ProviderAccount:
    customer_id: UUID
    provider: str
    credentials: dict[str, str]
    api_base: str | None
    delete_after_fetch: bool


def _purpose(provider: str) -> str:
    return f"provider-credentials {provider}"


def elks_url_token(webhook_secret: bytes) -> str:
    mac = hmac.new(webhook_secret, _ELKS_TOKEN_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def normalize_api_base(api_base: str) -> str:
    url = URL(api_base)
    if url.scheme not in ("http", "https") or not url.host or url.user or url.query_string \
            or url.fragment:
        raise Invalid("--api-base must be an http(s) URL with no credentials, query or fragment")
    return str(url).rstrip("/")


def _check_credentials(provider: str, credentials: dict[str, str]) -> None:
    missing = [name for name in REQUIRED_CREDENTIALS[provider] if not credentials.get(name)]
    if missing:
        raise Invalid(f"missing {', '.join(missing)} for {provider}")
    if provider == "twilio" and not _TWILIO_ACCOUNT_SID.fullmatch(credentials["account_sid"]):
        raise Invalid("the Twilio account SID must look like AC followed by 32 hex digits")
    if provider == "telnyx":
        try:
            key = base64.b64decode(credentials["public_key"], validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise Invalid("the Telnyx public key must be the base64 of 32 bytes (Mission Control)")


async def set_provider(conn: Connection, keys: KeyService, customer_id: UUID, provider: str,
                       credentials: dict[str, str], *, api_base: str | None = None,
                       delete_after_fetch: bool = False) -> ProviderAccount:
    if provider not in PROVIDERS:
        raise Invalid(f"provider must be one of {', '.join(PROVIDERS)}")
    _check_credentials(provider, credentials)
    customer = await customer_row(conn, customer_id)
    stored = dict(credentials)
    if provider == "46elks":
        stored["url_token"] = elks_url_token(customer_secrets(keys, customer).webhook_secret)
    base = normalize_api_base(api_base) if api_base else None
    wrapped = keys.wrap_secret(customer_id, _purpose(provider), json.dumps(stored).encode())
    await conn.execute(
        "INSERT INTO provider_accounts (customer_id, provider, credentials_wrapped, api_base,"
        " delete_after_fetch) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (customer_id, provider) DO UPDATE SET"
        " credentials_wrapped = EXCLUDED.credentials_wrapped, api_base = EXCLUDED.api_base,"
        " delete_after_fetch = EXCLUDED.delete_after_fetch, updated_at = now()",
        customer_id, provider, wrapped, base, delete_after_fetch)
    return ProviderAccount(customer_id, provider, stored, base, delete_after_fetch)


async def load_provider(pool: Pool, keys: KeyService, customer_id: UUID, provider: str
                        ) -> ProviderAccount | None:
    """None when the customer does not exist, is erased, or has not configured the provider."""
    row = await pool.fetchrow(
        "SELECT p.credentials_wrapped, p.api_base, p.delete_after_fetch OR c.delete_provider_copy"
        " AS delete_after_fetch FROM provider_accounts p JOIN customers c ON c.id = p.customer_id"
        " WHERE p.customer_id = $1 AND p.provider = $2 AND c.erased_at IS NULL",
        customer_id, provider)
    if row is None:
        return None
    credentials: dict[str, Any] = json.loads(
        keys.unwrap_secret(customer_id, _purpose(provider), bytes(row["credentials_wrapped"])))
    return ProviderAccount(customer_id, provider, {k: str(v) for k, v in credentials.items()},
                           row["api_base"], bool(row["delete_after_fetch"]))


def webhook_urls(base_url: str, account: ProviderAccount) -> dict[str, str]:
    """The URL(s) the customer enters in the provider's console, by purpose."""
    root = f"{base_url.rstrip('/')}/webhooks/{account.provider}/{account.customer_id}"
    if account.provider == "46elks":
        token = account.credentials["url_token"]
        return {"recordcall": f"{root}?token={token}&kind=call",
                "record": f"{root}?token={token}&kind=voicemail"}
    if account.provider == "twilio":
        return {"recordingStatusCallback": root, "voicemail": f"{root}?kind=voicemail"}
    return {"webhook_url": root}
