"""Tokens of an external identity provider, verified against its published JWKS.

The provider's token names the customer and the role in two configurable claims. Only
asymmetric algorithms are accepted, the issuer and audience are required, and the key set
is fetched by pyjwt's PyJWKClient (cached, with a cool-down on unknown key ids so forged
`kid`s cannot make us hammer the provider) in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from recstore.errors import Unauthorized

ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                        "ES256", "ES384", "ES512", "EdDSA"})
CUSTOMER_ROLES = frozenset({"customer_admin", "customer_user"})
# Users of an external provider get a stable recstore id derived from (issuer, subject).
_USER_NAMESPACE = uuid.UUID("6f1c5a8e-4d0b-5f57-9b53-7f2f6c4e2a10")


@dataclass(frozen=True)
class ExternalClaims:
    user_id: uuid.UUID
    role: str
    customer_id: uuid.UUID
    issued_at: int


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ValueError("RECSTORE_JWT_JWKS_URL must be https (plain http only on loopback)")


def external_user_id(issuer: str, subject: str) -> uuid.UUID:
    return uuid.uuid5(_USER_NAMESPACE, f"{issuer}\n{subject}")


class JwksVerifier:
    def __init__(self, url: str, *, issuer: str, audience: str, customer_claim: str,
                 role_claim: str, timeout: float = 5.0) -> None:
        _check_url(url)
        if not issuer or not audience:
            raise ValueError("an external identity provider needs an issuer and an audience")
        self.issuer, self.audience = issuer, audience
        self.customer_claim, self.role_claim = customer_claim, role_claim
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=300, timeout=timeout,
                                       cooldown_duration=30)

    def _decode(self, token: str) -> dict[str, Any]:
        """Blocking (may fetch the key set): run in a thread."""
        alg = jwt.get_unverified_header(token).get("alg")
        if alg not in ALGORITHMS:
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        signing_key = self._client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, signing_key.key, algorithms=[str(alg)], audience=self.audience,
            issuer=self.issuer, leeway=5,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        return claims

    async def verify(self, token: str) -> ExternalClaims:
        try:
            claims = await asyncio.to_thread(self._decode, token)
            role = claims.get(self.role_claim)
            if role not in CUSTOMER_ROLES:
                raise Unauthorized("invalid token")
            return ExternalClaims(external_user_id(self.issuer, str(claims["sub"])), str(role),
                                  uuid.UUID(str(claims[self.customer_claim])), int(claims["iat"]))
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("invalid token") from exc
