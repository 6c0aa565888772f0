"""Blind index of a phone number: equal within one customer, unlinkable across them."""

import hashlib
from uuid import UUID

from .phone import E164_PATTERN

BLIND_INDEX_SIZE = 32
INDEX_KEY_SIZE = 32
_PERSON = b"recstore-bidx-v1"  # BLAKE2b personalisation, exactly 16 bytes


def blind_index(index_key: bytes, e164: str) -> bytes:
    """Keyed BLAKE2b-256 of a normalised number (use normalize_phone first)."""
    if not isinstance(index_key, bytes) or len(index_key) != INDEX_KEY_SIZE:
        raise ValueError(f"index key must be {INDEX_KEY_SIZE} bytes")
    if not E164_PATTERN.fullmatch(e164):
        raise ValueError("number must be normalised E.164, e.g. '+46701234567'")
    return hashlib.blake2b(
        e164.encode("ascii"), digest_size=BLIND_INDEX_SIZE, key=index_key, person=_PERSON
    ).digest()


INDEX_SECRET_SIZE = 32
_KEY_PERSON = b"recstore-bidxk-2"  # exactly 16 bytes


def epoch_index_key(index_secret: bytes, customer_id: UUID, epoch: str) -> bytes:
    """A customer's blind-index key for one epoch, from that epoch's index secret (kept
    outside the database and destroyed with the epoch): once the secret is gone, no copy of
    the index confirms a guessed caller of that period."""
    if not isinstance(index_secret, bytes) or len(index_secret) != INDEX_SECRET_SIZE:
        raise ValueError(f"index secret must be {INDEX_SECRET_SIZE} bytes")
    if not isinstance(customer_id, UUID):
        raise TypeError("customer_id must be a UUID")
    return hashlib.blake2b(customer_id.bytes + epoch.encode("ascii"), digest_size=INDEX_KEY_SIZE,
                           key=index_secret, person=_KEY_PERSON).digest()
