"""Property tests: round trips over awkward sizes and arbitrary update() piece sizes."""

import itertools
import random
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

import crypto
from crypto import CHUNK_SIZE, HEADER_SIZE, StreamDecryptor, StreamEncryptor

KEY = bytes(range(32))
CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
MiB = 1 << 20
# Non-periodic, so a chunk returned in the wrong place cannot look right.
SOURCE = random.Random(1).randbytes(6 * MiB)

EDGE_SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1]
EDGE_SIZES += [k * CHUNK_SIZE + d for k in (2, 3, 7) for d in (-1, 0, 1)]
EDGE_SIZES += [5 * MiB + 12345]
sizes = st.one_of(st.sampled_from(EDGE_SIZES), st.integers(0, 5 * CHUNK_SIZE))


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def encrypt_in_pieces(plaintext: bytes, cuts: list[int]) -> bytes:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    out = [enc.header]
    for piece in pieces(plaintext, cuts):
        out.append(enc.update(piece))
        assert enc._buffer.size <= CHUNK_SIZE
    out.append(enc.finalize())
    return b"".join(out)


def decrypt_in_pieces(ciphertext: bytes, size: int, cuts: list[int]) -> bytes:
    dec = StreamDecryptor(KEY, ciphertext[:HEADER_SIZE], customer_id=CUSTOMER,
                          recording_id=RECORDING, plaintext_size=size)
    out = [dec.update(piece) for piece in pieces(ciphertext[HEADER_SIZE:], cuts)]
    out.append(dec.finalize())
    return b"".join(out)


@settings(max_examples=40, deadline=None)
@given(size=sizes)
def test_round_trip(size: int) -> None:
    plaintext = SOURCE[:size]
    ciphertext = crypto.encrypt_audio(KEY, plaintext, customer_id=CUSTOMER,
                                      recording_id=RECORDING)
    assert len(ciphertext) == crypto.ciphertext_size(size)
    assert crypto.decrypt_audio(KEY, ciphertext, customer_id=CUSTOMER,
                                recording_id=RECORDING) == plaintext


@settings(max_examples=60, deadline=None)
@given(size=sizes, enc_cuts=st.lists(st.integers(0, 4 * MiB), max_size=12),
       dec_cuts=st.lists(st.integers(0, 4 * MiB), max_size=12))
def test_round_trip_with_arbitrary_pieces(size: int, enc_cuts: list[int],
                                          dec_cuts: list[int]) -> None:
    plaintext = SOURCE[:size]
    ciphertext = encrypt_in_pieces(plaintext, enc_cuts)
    assert decrypt_in_pieces(ciphertext, size, dec_cuts) == plaintext


def test_round_trip_several_megabytes_in_upload_sized_pieces() -> None:
    plaintext = SOURCE[:5 * MiB + 7]
    cuts = list(range(0, len(plaintext), 16 * 1024 + 3))
    ciphertext = encrypt_in_pieces(plaintext, cuts)
    assert len(ciphertext) == crypto.ciphertext_size(len(plaintext))
    assert decrypt_in_pieces(ciphertext, len(plaintext), list(range(0, len(ciphertext), 70001))) \
        == plaintext


def test_empty_updates_are_harmless() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    parts = [enc.update(b""), enc.update(b"abc"), enc.update(b""), enc.finalize()]
    ciphertext = enc.header + b"".join(parts)
    dec = StreamDecryptor(KEY, ciphertext[:HEADER_SIZE], customer_id=CUSTOMER,
                          recording_id=RECORDING, plaintext_size=3)
    assert dec.update(b"") + dec.update(ciphertext[HEADER_SIZE:]) + dec.update(b"") == b"abc"
    assert dec.finalize() == b""


@settings(max_examples=300, deadline=None)
@given(size=st.integers(0, 2**40))
def test_size_functions_are_inverse(size: int) -> None:
    assert crypto.plaintext_size(crypto.ciphertext_size(size)) == size


@settings(max_examples=30, deadline=None)
@given(size=st.integers(0, 4 * CHUNK_SIZE), step=st.integers(1, 3 * CHUNK_SIZE))
def test_piecewise_equals_whole(size: int, step: int) -> None:
    plaintext = SOURCE[:size]
    prefix = bytes(19)
    whole = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING,
                            nonce_prefix=prefix)
    expected = whole.update(plaintext) + whole.finalize()
    split = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING,
                            nonce_prefix=prefix)
    got = b"".join(split.update(plaintext[i:i + step]) for i in range(0, size, step))
    assert got + split.finalize() == expected
