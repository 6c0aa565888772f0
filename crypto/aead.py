"""XChaCha20-Poly1305 (IETF) with every failure mapped to CryptoError."""

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

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


def open_into(key: bytes, nonce: bytes, ciphertext: memoryview, aad: bytes,
              out: memoryview) -> None:
    """open_() into `out` (len(ciphertext) - TAG_SIZE writable bytes), without copies.

    PyNaCl's binding allocates a zeroed buffer per call and copies the result out of it,
    three passes over memory with the GIL held; this calls the same libsodium function
    through PyNaCl's own cffi module, reading from and writing to the caller's buffers.
    libsodium checks the tag before it writes, and zeroes `out` when the check fails.
    """
    if len(ciphertext) < TAG_SIZE or len(out) != len(ciphertext) - TAG_SIZE:
        raise CryptoError()
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
        raise ValueError("key or nonce of the wrong size")
    status = _lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
        _ffi.from_buffer(out, require_writable=True), _ffi.NULL, _ffi.NULL,
        _ffi.from_buffer(ciphertext), len(ciphertext), aad, len(aad), nonce, key)
    if status != 0:
        raise CryptoError()
