"""Layout of the streaming audio ciphertext: header, chunk nonces, AAD and sizes.

    object = header || chunk_0 || ... || chunk_{n-1}
    header = b"RSTR" || version (1) || log2(CHUNK_SIZE) (16) || nonce prefix (19 bytes)
    chunk_i = XChaCha20-Poly1305(plaintext_i) || tag (16 bytes)

Every chunk but the last holds exactly CHUNK_SIZE plaintext bytes; the last holds
1..CHUNK_SIZE, and only an empty stream has an empty (final) chunk. So each
plaintext size has exactly one ciphertext size and vice versa.
"""

import struct
from uuid import UUID

from . import aead
from .errors import CryptoError

MAGIC = b"RSTR"
VERSION = 1
CHUNK_SIZE_LOG2 = 16
CHUNK_SIZE = 1 << CHUNK_SIZE_LOG2
NONCE_PREFIX_SIZE = aead.NONCE_SIZE - 5
HEADER_SIZE = len(MAGIC) + 2 + NONCE_PREFIX_SIZE
TAG_SIZE = aead.TAG_SIZE
CIPHER_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
MAX_CHUNKS = 2**32 - 1
MAX_PLAINTEXT_SIZE = MAX_CHUNKS * CHUNK_SIZE
_AAD_DOMAIN = b"recstore/audio/v1"
_COUNTER_AND_FLAG = struct.Struct(">IB")


def build_header(nonce_prefix: bytes) -> bytes:
    if len(nonce_prefix) != NONCE_PREFIX_SIZE:
        raise ValueError(f"nonce prefix must be {NONCE_PREFIX_SIZE} bytes")
    return MAGIC + bytes([VERSION, CHUNK_SIZE_LOG2]) + nonce_prefix


def parse_header(header: bytes) -> bytes:
    """Return the nonce prefix, or raise CryptoError if this is not a v1 header."""
    if (
        len(header) != HEADER_SIZE
        or header[:4] != MAGIC
        or header[4] != VERSION
        or header[5] != CHUNK_SIZE_LOG2
    ):
        raise CryptoError()
    return bytes(header[6:])


def chunk_nonce(nonce_prefix: bytes, index: int, final: bool) -> bytes:
    return nonce_prefix + _COUNTER_AND_FLAG.pack(index, final)


def associated_data(header: bytes, customer_id: UUID, recording_id: UUID) -> bytes:
    if not isinstance(customer_id, UUID) or not isinstance(recording_id, UUID):
        raise TypeError("customer_id and recording_id must be UUIDs")
    return _AAD_DOMAIN + customer_id.bytes + recording_id.bytes + bytes(header)


def chunk_count(plaintext_size: int) -> int:
    check_plaintext_size(plaintext_size)
    return max(1, -(-plaintext_size // CHUNK_SIZE))


def final_chunk_plaintext_size(plaintext_size: int) -> int:
    return plaintext_size - (chunk_count(plaintext_size) - 1) * CHUNK_SIZE


def check_plaintext_size(plaintext_size: int) -> None:
    if not 0 <= plaintext_size <= MAX_PLAINTEXT_SIZE:
        raise ValueError("plaintext size out of range")


def ciphertext_size(plaintext_size: int) -> int:
    """Size of the whole object (header included) for a plaintext of this size."""
    return HEADER_SIZE + plaintext_size + chunk_count(plaintext_size) * TAG_SIZE


def plaintext_size(ciphertext_size: int) -> int:
    """Inverse of ciphertext_size; ValueError for a size no stream can have."""
    body = ciphertext_size - HEADER_SIZE
    if body < TAG_SIZE:
        raise ValueError("impossible ciphertext size")
    full, rest = divmod(body, CIPHER_CHUNK_SIZE)
    if rest == 0:
        size = full * CHUNK_SIZE
    elif rest > TAG_SIZE or (rest == TAG_SIZE and full == 0):
        size = full * CHUNK_SIZE + rest - TAG_SIZE
    else:
        raise ValueError("impossible ciphertext size")
    if size > MAX_PLAINTEXT_SIZE:
        raise ValueError("impossible ciphertext size")
    return size
