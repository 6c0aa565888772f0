"""Access tokens: EdDSA-signed JWTs with a key id, strict algorithm allow-list."""

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

from recstore.errors import Unauthorized

ALGORITHMS = ["EdDSA"]  # the only algorithm accepted; never "none", never HS*


@dataclass(frozen=True)
class Claims:
    user_id: UUID
    role: str
    customer_id: UUID | None
    issued_at: int


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


class TokenService:
    def __init__(self, private_key: Ed25519PrivateKey, *, issuer: str, audience: str,
                 ttl_seconds: int, extra_public_keys: list[Ed25519PublicKey] | None = None):
        self._private_key = private_key
        self._kid = key_id(private_key.public_key())
        self._public_keys = {self._kid: private_key.public_key()}
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
            return Claims(UUID(claims["sub"]), str(claims["role"]),
                          UUID(customer) if customer else None, int(claims["iat"]))
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            raise Unauthorized("invalid token") from exc
