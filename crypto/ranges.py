"""Byte ranges of the plaintext mapped onto whole chunks of the ciphertext."""

from dataclasses import dataclass
from uuid import UUID

from .stream import StreamDecryptor
from .stream_format import (
    CHUNK_SIZE,
    CIPHER_CHUNK_SIZE,
    HEADER_SIZE,
    TAG_SIZE,
    check_plaintext_size,
    chunk_count,
    final_chunk_plaintext_size,
)


@dataclass(frozen=True)
class RangePlan:
    first_chunk: int
    last_chunk: int
    cipher_start: int  # offset in the whole object (header included), inclusive
    cipher_end: int  # inclusive, like an HTTP Range
    skip: int  # plaintext bytes to drop from the first decrypted chunk
    length: int  # plaintext bytes to return


def plan_range(start: int, end_inclusive: int, plaintext_size: int) -> RangePlan:
    """Plan the chunks needed for plaintext[start:end_inclusive + 1].

    As in HTTP (RFC 9110), an end beyond the plaintext is clamped to its last byte;
    a range that starts beyond it, or is empty or reversed, raises ValueError.
    """
    check_plaintext_size(plaintext_size)
    if start < 0 or end_inclusive < start or start >= plaintext_size:
        raise ValueError("range not satisfiable")
    end = min(end_inclusive, plaintext_size - 1)
    first, last = start // CHUNK_SIZE, end // CHUNK_SIZE
    if last == chunk_count(plaintext_size) - 1:
        last_len = final_chunk_plaintext_size(plaintext_size)
    else:
        last_len = CHUNK_SIZE
    return RangePlan(
        first_chunk=first,
        last_chunk=last,
        cipher_start=HEADER_SIZE + first * CIPHER_CHUNK_SIZE,
        cipher_end=HEADER_SIZE + last * CIPHER_CHUNK_SIZE + last_len + TAG_SIZE - 1,
        skip=start - first * CHUNK_SIZE,
        length=end - start + 1,
    )


def decrypt_range(
    data_key: bytes,
    header: bytes,
    chunks: bytes,
    plan: RangePlan,
    *,
    customer_id: UUID,
    recording_id: UUID,
    plaintext_size: int,
) -> bytes:
    """Decrypt `chunks` (the object's bytes plan.cipher_start..plan.cipher_end)."""
    decryptor = StreamDecryptor(
        data_key,
        header,
        customer_id=customer_id,
        recording_id=recording_id,
        plaintext_size=plaintext_size,
        first_chunk=plan.first_chunk,
        last_chunk=plan.last_chunk,
    )
    plaintext = decryptor.update(chunks)
    decryptor.finalize()
    return plaintext[plan.skip:plan.skip + plan.length]
