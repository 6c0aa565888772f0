"""Subkey derivation, byte-for-byte equal to libsodium's crypto_kdf_derive_from_key.

PyNaCl has no crypto_kdf binding, so this rebuilds it from BLAKE2b the same way
libsodium does (crypto_kdf_blake2b_derive_from_key).
"""

import hashlib

KDF_KEY_SIZE = 32
KDF_CONTEXT_SIZE = 8
KDF_MIN_SIZE = 16
KDF_MAX_SIZE = 64


def derive_subkey(key: bytes, subkey_id: int, context: bytes, size: int = 32) -> bytes:
    """Derive subkey number `subkey_id` of `size` bytes from a 32-byte key.

    `context` is exactly 8 bytes and names the purpose; different contexts or ids give
    independent subkeys.
    """
    if len(key) != KDF_KEY_SIZE:
        raise ValueError(f"KDF key must be {KDF_KEY_SIZE} bytes")
    if len(context) != KDF_CONTEXT_SIZE:
        raise ValueError(f"KDF context must be exactly {KDF_CONTEXT_SIZE} bytes")
    if not KDF_MIN_SIZE <= size <= KDF_MAX_SIZE:
        raise ValueError(f"subkey size must be {KDF_MIN_SIZE}..{KDF_MAX_SIZE} bytes")
    if not 0 <= subkey_id < 2**64:
        raise ValueError("subkey_id must fit in an unsigned 64-bit integer")
    salt = subkey_id.to_bytes(8, "little") + bytes(8)
    person = context + bytes(8)
    return hashlib.blake2b(b"", digest_size=size, key=key, salt=salt, person=person).digest()
