"""Access tokens: EdDSA-signed JWTs with a key id, strict algorithm allow-list.

Our own tokens verify against the current signing key or a retired one still listed in
RECSTORE_JWT_PREVIOUS_PUBLIC_KEYS_FILE (rotation: old tokens work until they expire).
Tokens with any other key id go to the external identity provider's JWKS, if configured.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from recstore.auth.jwks import JwksVerifier
from recstore.custody import KeyMaterialMissing
from recstore.errors import Unauthorized
from recstore.settings import Settings

ALGORITHMS = ["EdDSA"]  # the only algorithm accepted; never "none", never HS*


@dataclass(frozen=True)
class Claims:
    user_id: UUID
    role: str
    customer_id: UUID | None
    issued_at: int
    external: bool = False  # from the external identity provider, not our own login


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode()


def generate_private_key_file(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the JWT signing key must be an Ed25519 private key")
    return key


_PEM_END = b"-----END PUBLIC KEY-----"


def load_public_keys(path: Path | None) -> list[Ed25519PublicKey]:
    """Every PEM public key in the file (concatenated blocks); none when no file is set."""
    if path is None:
        return []
    keys = []
    for block in path.read_bytes().split(_PEM_END):
        if block.strip():
            key = serialization.load_pem_public_key(block + _PEM_END)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("previous JWT keys must be Ed25519 public keys")
            keys.append(key)
    return keys


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _uuid_claim(value: Any) -> UUID:
    """Our tokens carry ids as strings; anything else (an integer `cid`) is a forged token."""
    if not isinstance(value, str):
        raise TypeError("id claims are strings")
    return UUID(value)


def _text_claim(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("role is a string")
    return value


def _int_claim(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("times are integers")
    return value


class TokenService:
    def __init__(self, private_key: Ed25519PrivateKey | None, *, issuer: str, audience: str,
                 ttl_seconds: int, extra_public_keys: list[Ed25519PublicKey] | None = None,
                 external: JwksVerifier | None = None):
        """Without a private key the service only verifies (the staff role signs nothing)."""
        self._private_key = private_key
        self.external = external
        self._public_keys: dict[str, Ed25519PublicKey] = {}
        self._kid = ""
        if private_key is not None:
            self._kid = key_id(private_key.public_key())
            self._public_keys[self._kid] = private_key.public_key()
        for extra in extra_public_keys or []:  # old keys still verify until their tokens expire
            self._public_keys[key_id(extra)] = extra
        self.issuer, self.audience, self.ttl_seconds = issuer, audience, ttl_seconds

    def issue(self, user_id: UUID, role: str, customer_id: UUID | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": self.audience, "sub": str(user_id), "role": role,
            "iat": now, "nbf": now, "exp": now + self.ttl_seconds, "jti": str(uuid.uuid4()),
        }
        if customer_id is not None:
            claims["cid"] = str(customer_id)
        if self._private_key is None:
            raise KeyMaterialMissing("this process signs no tokens (RECSTORE_JWT_PRIVATE_KEY_FILE)")
        return jwt.encode(claims, self._private_key, algorithm="EdDSA",
                          headers={"kid": self._kid})

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
            public_key = self._public_keys.get(str(header.get("kid")))
            if public_key is None or header.get("alg") not in ALGORITHMS:
                raise Unauthorized("invalid token")
            claims = jwt.decode(
                token, public_key, algorithms=ALGORITHMS, audience=self.audience,
                issuer=self.issuer, leeway=5,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            customer = claims.get("cid")
            return Claims(_uuid_claim(claims["sub"]), _text_claim(claims["role"]),
                          _uuid_claim(customer) if customer is not None else None,
                          _int_claim(claims["iat"]))
        except (jwt.PyJWTError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Unauthorized("invalid token") from exc

    async def authenticate(self, token: str) -> Claims:
        """Our own token, or else the external identity provider's (if one is configured)."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise Unauthorized("invalid token") from exc
        if kid in self._public_keys or self.external is None:
            return self.verify(token)
        found = await self.external.verify(token)
        return Claims(found.user_id, found.role, found.customer_id, found.issued_at, external=True)


def token_service_for(settings: Settings, *, signing: bool = True) -> TokenService:
    external = None
    if settings.jwt_jwks_url:
        external = JwksVerifier(
            settings.jwt_jwks_url, issuer=settings.jwt_jwks_issuer or "",
            audience=settings.jwt_jwks_audience or "",
            customer_claim=settings.jwt_jwks_customer_claim,
            role_claim=settings.jwt_jwks_role_claim)
    private_key = None
    public_keys = load_public_keys(settings.jwt_previous_public_keys_file)
    public_keys += load_public_keys(settings.jwt_public_keys_file)
    if settings.jwt_private_key_file is not None and (signing or not settings.jwt_public_keys_file):
        key = load_private_key(settings.jwt_private_key_file)
        # A verifying-only role keeps the public half and drops the private key at once.
        private_key = key if signing else None
        if not signing:
            public_keys.append(key.public_key())
    return TokenService(private_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                        ttl_seconds=settings.jwt_ttl_seconds, extra_public_keys=public_keys,
                        external=external)
