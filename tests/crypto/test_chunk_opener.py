"""ChunkOpener: runs of chunks opened on their own, in any order, by the read path's threads."""

import random
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import CHUNK_SIZE, HEADER_SIZE, ChunkOpener, CryptoError, StreamEncryptor, aead
from crypto.stream_format import CIPHER_CHUNK_SIZE, chunk_count

KEY = bytes(range(32))
CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
SOURCE = random.Random(2).randbytes(9 * CHUNK_SIZE)


def sealed(size: int, recording: UUID = RECORDING) -> tuple[bytes, bytes]:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=recording)
    body = enc.update(SOURCE[:size]) + enc.finalize()
    return enc.header, body


def opener(header: bytes, size: int, recording: UUID = RECORDING) -> ChunkOpener:
    return ChunkOpener(KEY, header, customer_id=CUSTOMER, recording_id=recording,
                       plaintext_size=size)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 9 * CHUNK_SIZE), data=st.data())
def test_any_run_of_chunks_opens_to_its_plaintext(size: int, data: st.DataObject) -> None:
    header, body = sealed(size)
    count = chunk_count(size)
    first = data.draw(st.integers(0, count - 1))
    last = data.draw(st.integers(first, count - 1))
    start = first * CIPHER_CHUNK_SIZE
    end = min((last + 1) * CIPHER_CHUNK_SIZE, len(body))
    plain = opener(header, size).open(first, memoryview(body)[start:end])
    assert bytes(plain) == SOURCE[first * CHUNK_SIZE:min((last + 1) * CHUNK_SIZE, size)]


def test_cut_moved_tampered_or_foreign_runs_fail() -> None:
    size = 3 * CHUNK_SIZE + 100
    header, body = sealed(size)
    chunks = opener(header, size)
    two = body[:2 * CIPHER_CHUNK_SIZE]
    bad = [
        (0, two[:-1]),                            # cut inside a chunk
        (0, two + b"\x00"),                       # a byte more
        (1, two),                                 # read as if it were chunks 1 and 2
        (3, body[:CIPHER_CHUNK_SIZE]),            # a full chunk where the short final one is
        (2, body[3 * CIPHER_CHUNK_SIZE:]),        # the final chunk opened as a middle one
        (0, b""),                                 # nothing at all
        (4, body[-116:]),                         # beyond the last chunk
    ]
    flipped = bytearray(two)
    flipped[CIPHER_CHUNK_SIZE + 7] ^= 1
    bad.append((0, bytes(flipped)))
    for index, run in bad:
        with pytest.raises(CryptoError):
            chunks.open(index, run)
    other_header, _ = sealed(size, UUID("33333333-3333-4333-8333-333333333333"))
    with pytest.raises(CryptoError):  # another recording's header: other nonces and AAD
        opener(other_header, size).open(0, two)
    with pytest.raises(CryptoError):  # the final chunk of a stream claimed to be longer
        opener(header, size + CHUNK_SIZE).open(3, body[3 * CIPHER_CHUNK_SIZE:])


def test_open_into_matches_the_public_binding_and_writes_nothing_on_failure() -> None:
    nonce, aad = bytes(24), b"aad"
    plain = SOURCE[:1000]
    cipher = aead.seal(KEY, nonce, plain, aad)
    out = bytearray(len(plain))
    aead.open_into(KEY, nonce, memoryview(cipher), aad, memoryview(out))
    assert bytes(out) == aead.open_(KEY, nonce, cipher, aad) == plain
    tampered = bytearray(cipher)
    tampered[3] ^= 1
    out = bytearray(b"\xff" * len(plain))
    with pytest.raises(CryptoError):
        aead.open_into(KEY, nonce, memoryview(tampered), aad, memoryview(out))
    assert out == bytes(len(plain))  # zeroed by libsodium, never unauthenticated plaintext
    with pytest.raises(CryptoError):
        aead.open_into(KEY, nonce, memoryview(cipher), aad, memoryview(bytearray(10)))


def test_the_header_is_checked() -> None:
    header, _ = sealed(10)
    with pytest.raises(CryptoError):
        opener(b"XXXX" + header[4:], 10)
    assert len(header) == HEADER_SIZE
