"""The key hierarchy as one process holds it: master keyring, epoch secrets, ingest keyring,
customer key pairs, the staff key pair. A process holds only what its role loads
(recstore/custody.py); asking for anything else raises KeyMaterialMissing."""

from __future__ import annotations

import secrets
from uuid import UUID

from crypto import (
    CryptoError,
    CustomerKeyPair,
    MasterKeyring,
    blind_index,
    epoch_index_key,
    generate_customer_keypair,
    unwrap_private_key,
    wrap_private_key,
)
from recstore.custody import KeyMaterialMissing
from recstore.db import Connection
from recstore.epoch_keys import EpochKeyStore
from recstore.errors import KeyShredded, Unavailable

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_MASTER = "RECSTORE_MASTER_KEYS"
_INGEST = "RECSTORE_INGEST_KEYS"


class KeyNotProvisioned(Unavailable):
    """Ingest met an epoch whose customer key pair was not created in advance."""

    def __init__(self) -> None:
        super().__init__("the customer's key for this period is not provisioned yet")


class KeyService:
    def __init__(self, keyring: MasterKeyring | None, epochs: EpochKeyStore, *,
                 ingest: MasterKeyring | None = None, staff_public_key: bytes | None = None,
                 staff_keys: CustomerKeyPair | None = None) -> None:
        if keyring is not None and ingest is not None \
                and set(keyring.key_ids()) & set(ingest.key_ids()):
            raise ValueError("ingest and master keys must have distinct key ids")
        self._keyring = keyring
        self.epochs = epochs
        self._ingest = ingest
        if staff_keys is not None:
            staff_public_key = staff_keys.public_key
        self.staff_public_key = staff_public_key
        self._staff_keys = staff_keys

    @property
    def keyring(self) -> MasterKeyring:
        if self._keyring is None:
            raise KeyMaterialMissing(f"this process holds no master keyring ({_MASTER})")
        return self._keyring

    @property
    def has_master(self) -> bool:
        return self._keyring is not None

    @property
    def ingest_keyring(self) -> MasterKeyring:
        if self._ingest is None:
            raise KeyMaterialMissing(f"this process holds no ingest keyring ({_INGEST})")
        return self._ingest

    @property
    def staff_keys(self) -> CustomerKeyPair:
        if self._staff_keys is None:
            raise KeyMaterialMissing("this process holds no staff key (RECSTORE_STAFF_KEY_FILE)")
        return self._staff_keys

    # Ingest secrets (webhook secrets, provider credentials, job fields, notification
    # secrets), wrapped by the ingest keyring and bound to the customer id.
    def wrap_secret(self, customer_id: UUID, purpose: str, secret: bytes) -> bytes:
        return self.ingest_keyring.wrap(secret, aad=_secret_aad(customer_id, purpose))

    def unwrap_secret(self, customer_id: UUID, purpose: str, wrapped: bytes) -> bytes:
        aad = _secret_aad(customer_id, purpose)
        if self.is_legacy_secret(wrapped):
            # Wrapped by the master keyring before the ingest keyring existed: readable only
            # where both are held, until `recstore keys migrate-ingest` re-wraps it.
            return self.keyring.unwrap(wrapped, aad=aad)
        return self.ingest_keyring.unwrap(wrapped, aad=aad)

    def is_legacy_secret(self, wrapped: bytes) -> bool:
        """True for a blob wrapped by a master key (it names a key the ingest keyring lacks)."""
        try:
            key_id = MasterKeyring.key_id_of(wrapped)
        except CryptoError:
            return False
        in_ingest = self._ingest is not None and key_id in self._ingest.key_ids()
        return not in_ingest and self._keyring is not None and key_id in self._keyring.key_ids()

    def rewrap_secret(self, customer_id: UUID, purpose: str, wrapped: bytes) -> bytes | None:
        """The blob re-wrapped under the newest ingest key, or None if nothing to do."""
        if not self.is_legacy_secret(wrapped) and not self.ingest_keyring.needs_rewrap(wrapped):
            return None
        return self.wrap_secret(customer_id, purpose, self.unwrap_secret(customer_id, purpose,
                                                                         wrapped))

    @staticmethod
    def new_webhook_secret() -> str:
        return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)

    async def public_key(self, conn: Connection, customer_id: UUID, epoch: str) -> bytes:
        """The customer's public key for an epoch. Ingest needs only this, and finds it made
        in advance (`provision`); a process holding the master keyring makes it on demand."""
        row = await conn.fetchrow(
            "SELECT public_key FROM customer_keys WHERE customer_id = $1 AND epoch = $2",
            customer_id, epoch,
        )
        if row is not None:
            self.epochs.check_open(epoch)
            return bytes(row["public_key"])
        if not self.has_master:
            self.epochs.check_open(epoch)
            raise KeyNotProvisioned()
        return await self.provision(conn, customer_id, epoch)

    async def provision(self, conn: Connection, customer_id: UUID, epoch: str) -> bytes:
        """Create the customer's key pair for an epoch unless it exists; its public key. With
        the ingest keyring too, the epoch's index secret is made as well."""
        secret = self.epochs.get_or_create(epoch)
        if self._ingest is not None:
            self.epochs.ensure_index(epoch)
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

    def index_key(self, customer_id: UUID, epoch: str) -> bytes:
        """The customer's blind-index key for an epoch (ingest and search alike)."""
        secret = self.epochs.index_secret(epoch)
        if secret is None:
            if not (self.has_master and self._ingest is not None):
                self.epochs.check_open(epoch)
                raise KeyNotProvisioned()
            secret = self.epochs.ensure_index(epoch)
        return epoch_index_key(secret, customer_id, epoch)

    def search_indexes(self, customer_id: UUID, e164: str) -> list[bytes]:
        """The number's blind index under every live epoch: a destroyed epoch's index secret is
        gone, so nothing can match that period any more."""
        return [blind_index(epoch_index_key(secret, customer_id, epoch), e164)
                for epoch in self.epochs.index_epochs()
                if (secret := self.epochs.index_secret(epoch)) is not None]

    async def keypair(self, conn: Connection, customer_id: UUID, epoch: str) -> CustomerKeyPair:
        """The full key pair, for reading. KeyShredded once the epoch or the customer is gone."""
        row = await conn.fetchrow(
            "SELECT public_key, wrapped_private_key FROM customer_keys"
            " WHERE customer_id = $1 AND epoch = $2",
            customer_id, epoch,
        )
        self.keyring  # noqa: B018 - KeyMaterialMissing, not KeyShredded, without the keyring
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


def _secret_aad(customer_id: UUID, purpose: str) -> bytes:
    # The same associated data as before the ingest keyring, so legacy blobs still open.
    return f"recstore {purpose} {customer_id}".encode()
