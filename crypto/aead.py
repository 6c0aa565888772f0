"""XChaCha20-Poly1305 (IETF) with every failure mapped to CryptoError."""

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils

from .errors import CryptoError

KEY_SIZE: int = sodium.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE: int = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
TAG_SIZE: int = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES


def random_bytes(size: int) -> bytes:
    return nacl.utils.random(size)


def check_key(key: bytes, what: str = "key") -> None:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"{what} must be {KEY_SIZE} bytes")


def seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)


def open_(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    if len(ciphertext) < TAG_SIZE:
        raise CryptoError()
    try:
        return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, aad, nonce, key)
    except nacl.exceptions.CryptoError:
        raise CryptoError() from None
