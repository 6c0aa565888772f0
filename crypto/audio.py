"""Whole-object helpers over the streaming API, for payloads already in memory."""

from uuid import UUID

from .errors import CryptoError
from .stream import StreamDecryptor, StreamEncryptor
from .stream_format import HEADER_SIZE, plaintext_size


def encrypt_audio(data_key: bytes, plaintext: bytes, *, customer_id: UUID,
                  recording_id: UUID) -> bytes:
    encryptor = StreamEncryptor(data_key, customer_id=customer_id, recording_id=recording_id)
    return b"".join((encryptor.header, encryptor.update(plaintext), encryptor.finalize()))


def decrypt_audio(data_key: bytes, ciphertext: bytes, *, customer_id: UUID,
                  recording_id: UUID) -> bytes:
    """Decrypt a whole object; CryptoError if it was altered, truncated or extended."""
    try:
        size = plaintext_size(len(ciphertext))
    except ValueError:
        raise CryptoError() from None
    decryptor = StreamDecryptor(
        data_key,
        ciphertext[:HEADER_SIZE],
        customer_id=customer_id,
        recording_id=recording_id,
        plaintext_size=size,
    )
    plaintext = decryptor.update(memoryview(ciphertext)[HEADER_SIZE:])
    decryptor.finalize()
    return plaintext
