"""Per-recording data keys, sealed to the customer's epoch public key.

Ingest holds only the public key, so it can seal but never open what it stored.
"""

import nacl.bindings as sodium
import nacl.exceptions

from . import aead
from .errors import CryptoError
from .keypairs import CustomerKeyPair, check_public_key

DATA_KEY_SIZE = aead.KEY_SIZE
SEALED_DATA_KEY_SIZE: int = DATA_KEY_SIZE + sodium.crypto_box_SEALBYTES


def new_data_key() -> bytes:
    return aead.random_bytes(DATA_KEY_SIZE)


def seal_data_key(public_key: bytes, data_key: bytes) -> bytes:
    check_public_key(public_key)
    aead.check_key(data_key, "data key")
    return sodium.crypto_box_seal(data_key, public_key)


def open_data_key(keypair_or_private: CustomerKeyPair | bytes, sealed: bytes) -> bytes:
    keypair = (
        keypair_or_private
        if isinstance(keypair_or_private, CustomerKeyPair)
        else CustomerKeyPair.from_private_key(keypair_or_private)
    )
    if len(sealed) != SEALED_DATA_KEY_SIZE:
        raise CryptoError()
    return open_sealed_box(keypair, sealed)


def open_sealed_box(keypair: CustomerKeyPair, sealed: bytes) -> bytes:
    try:
        return sodium.crypto_box_seal_open(sealed, keypair.public_key, keypair.private_key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, nacl.exceptions.ValueError):
        raise CryptoError() from None
