"""Retention epochs: per-week secrets that wrap the customers' private keys.

The epoch secret lives outside the database; destroying it makes every private key
wrapped under it, in every backup, unrecoverable (crypto-shredding of the month).
"""

import re
from datetime import UTC, datetime
from uuid import UUID

from . import aead
from .errors import CryptoError
from .kdf import derive_subkey
from .keypairs import PRIVATE_KEY_SIZE

EPOCH_SECRET_SIZE = 32
# Weekly epochs are ISO weeks ("2026-W49"); monthly ones ("2026-11") are from before and stay
# valid until destroyed, so no recording is re-encrypted.
WEEK_PATTERN = re.compile(r"[0-9]{4}-W(0[1-9]|[1-4][0-9]|5[0-3])")
MONTH_PATTERN = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
EPOCH_PATTERN = re.compile(f"{MONTH_PATTERN.pattern}|{WEEK_PATTERN.pattern}")
WRAP_VERSION = 1
WRAPPED_PRIVATE_KEY_SIZE = 1 + aead.NONCE_SIZE + PRIVATE_KEY_SIZE + aead.TAG_SIZE
_AAD_LABEL = b"recstore/epoch-private-key/v1"
_KDF_CONTEXT = b"rsepochk"


def epoch_of(recorded_at: datetime) -> str:
    """The "YYYY-Www" ISO week (UTC) of an aware datetime."""
    if recorded_at.tzinfo is None or recorded_at.utcoffset() is None:
        raise ValueError("recorded_at must be timezone-aware")
    year, week, _ = recorded_at.astimezone(UTC).isocalendar()
    return f"{year:04d}-W{week:02d}"


def month_epoch_of(recorded_at: datetime) -> str:
    """The "YYYY-MM" UTC calendar month: the epoch of recordings stored before weekly epochs."""
    utc = recorded_at.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def new_epoch_secret() -> bytes:
    return aead.random_bytes(EPOCH_SECRET_SIZE)


def wrap_private_key(
    epoch_secret: bytes, private_key: bytes, *, customer_id: UUID, epoch: str
) -> bytes:
    return _wrap_with_nonce(epoch_secret, private_key, customer_id, epoch,
                            aead.random_bytes(aead.NONCE_SIZE))


def _wrap_with_nonce(
    epoch_secret: bytes, private_key: bytes, customer_id: UUID, epoch: str, nonce: bytes
) -> bytes:
    # Separate from wrap_private_key() only so tests can produce fixed vectors.
    if not isinstance(private_key, bytes) or len(private_key) != PRIVATE_KEY_SIZE:
        raise ValueError(f"private key must be {PRIVATE_KEY_SIZE} bytes")
    key = _wrapping_key(epoch_secret)
    version = bytes([WRAP_VERSION])
    sealed = aead.seal(key, nonce, private_key, _aad(version, customer_id, epoch))
    return version + nonce + sealed


def unwrap_private_key(
    epoch_secret: bytes, wrapped: bytes, *, customer_id: UUID, epoch: str
) -> bytes:
    key = _wrapping_key(epoch_secret)
    aad = _aad(bytes([WRAP_VERSION]), customer_id, epoch)
    if len(wrapped) != WRAPPED_PRIVATE_KEY_SIZE or wrapped[0] != WRAP_VERSION:
        raise CryptoError()
    nonce = wrapped[1:1 + aead.NONCE_SIZE]
    return aead.open_(key, nonce, wrapped[1 + aead.NONCE_SIZE:], aad)


def _wrapping_key(epoch_secret: bytes) -> bytes:
    if not isinstance(epoch_secret, bytes) or len(epoch_secret) != EPOCH_SECRET_SIZE:
        raise ValueError(f"epoch secret must be {EPOCH_SECRET_SIZE} bytes")
    return derive_subkey(epoch_secret, 1, _KDF_CONTEXT)


def _aad(version: bytes, customer_id: UUID, epoch: str) -> bytes:
    if not isinstance(customer_id, UUID):
        raise TypeError("customer_id must be a UUID")
    if not isinstance(epoch, str) or not EPOCH_PATTERN.fullmatch(epoch):
        raise ValueError("epoch must be 'YYYY-Www' or 'YYYY-MM'")
    return _AAD_LABEL + version + customer_id.bytes + epoch.encode("ascii")
