"""The key hierarchy as the service uses it: master keyring, epoch secrets, customer keys."""

from __future__ import annotations

import secrets
from uuid import UUID

from crypto import (
    CryptoError,
    CustomerKeyPair,
    MasterKeyring,
    generate_customer_keypair,
    unwrap_private_key,
    wrap_private_key,
)
from recstore.db import Connection
from recstore.epoch_keys import EpochKeyStore
from recstore.errors import KeyShredded

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class KeyService:
    def __init__(self, keyring: MasterKeyring, epochs: EpochKeyStore) -> None:
        self.keyring = keyring
        self.epochs = epochs

    # Customer-level secrets, wrapped by the master keyring and bound to the customer id.
    def wrap_secret(self, customer_id: UUID, purpose: str, secret: bytes) -> bytes:
        return self.keyring.wrap(secret, aad=f"recstore {purpose} {customer_id}".encode())

    def unwrap_secret(self, customer_id: UUID, purpose: str, wrapped: bytes) -> bytes:
        return self.keyring.unwrap(wrapped, aad=f"recstore {purpose} {customer_id}".encode())

    @staticmethod
    def new_webhook_secret() -> str:
        return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)

    async def public_key(self, conn: Connection, customer_id: UUID, epoch: str) -> bytes:
        """The customer's public key for a month, created on first use. Ingest needs only this."""
        row = await conn.fetchrow(
            "SELECT public_key FROM customer_keys WHERE customer_id = $1 AND epoch = $2",
            customer_id, epoch,
        )
        if row is not None:
            return bytes(row["public_key"])
        secret = self.epochs.get_or_create(epoch)
        pair = generate_customer_keypair()
        wrapped = wrap_private_key(secret, pair.private_key, customer_id=customer_id, epoch=epoch)
        await conn.execute(
            "INSERT INTO customer_keys (customer_id, epoch, public_key, wrapped_private_key)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            customer_id, epoch, pair.public_key, wrapped,
        )
        # A concurrent ingest may have won the race: the stored key is the one to use.
        stored = await conn.fetchval(
            "SELECT public_key FROM customer_keys WHERE customer_id = $1 AND epoch = $2",
            customer_id, epoch,
        )
        return bytes(stored)

    async def keypair(self, conn: Connection, customer_id: UUID, epoch: str) -> CustomerKeyPair:
        """The full key pair, for reading. KeyShredded once the month or the customer is gone."""
        row = await conn.fetchrow(
            "SELECT public_key, wrapped_private_key FROM customer_keys"
            " WHERE customer_id = $1 AND epoch = $2",
            customer_id, epoch,
        )
        secret = self.epochs.get(epoch)
        if row is None or secret is None:
            raise KeyShredded()
        try:
            private_key = unwrap_private_key(
                secret, bytes(row["wrapped_private_key"]), customer_id=customer_id, epoch=epoch
            )
        except CryptoError as exc:
            raise KeyShredded() from exc
        return CustomerKeyPair(public_key=bytes(row["public_key"]), private_key=private_key)
