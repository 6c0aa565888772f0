"""Range requests: plan_range picks whole chunks, decrypt_range returns the exact slice."""

import random
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto
from crypto import CHUNK_SIZE, HEADER_SIZE, CryptoError, RangePlan, StreamDecryptor
from crypto.stream_format import CIPHER_CHUNK_SIZE, TAG_SIZE

KEY = bytes(range(32))
CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
SOURCE = random.Random(2).randbytes(6 * CHUNK_SIZE)
_CACHE: dict[int, bytes] = {}


def encrypted(size: int) -> bytes:
    if size not in _CACHE:
        _CACHE[size] = crypto.encrypt_audio(KEY, SOURCE[:size], customer_id=CUSTOMER,
                                            recording_id=RECORDING)
    return _CACHE[size]


def read_range(size: int, plan: RangePlan) -> bytes:
    ciphertext = encrypted(size)
    return crypto.decrypt_range(KEY, ciphertext[:HEADER_SIZE],
                                ciphertext[plan.cipher_start:plan.cipher_end + 1], plan,
                                customer_id=CUSTOMER, recording_id=RECORDING,
                                plaintext_size=size)


def test_plan_for_middle_of_stream() -> None:
    plan = crypto.plan_range(CHUNK_SIZE + 10, 2 * CHUNK_SIZE + 5, 5 * CHUNK_SIZE)
    assert plan == RangePlan(first_chunk=1, last_chunk=2,
                             cipher_start=HEADER_SIZE + CIPHER_CHUNK_SIZE,
                             cipher_end=HEADER_SIZE + 3 * CIPHER_CHUNK_SIZE - 1,
                             skip=10, length=CHUNK_SIZE - 4)


def test_plan_for_partial_final_chunk_ends_at_object_end() -> None:
    size = 2 * CHUNK_SIZE + 7
    plan = crypto.plan_range(2 * CHUNK_SIZE, size - 1, size)
    assert plan.cipher_end == crypto.ciphertext_size(size) - 1
    assert plan.cipher_end - plan.cipher_start + 1 == 7 + TAG_SIZE


def test_end_beyond_size_is_clamped_like_http() -> None:
    assert crypto.plan_range(5, 10**9, 100).length == 95


@pytest.mark.parametrize(("start", "end", "size"),
                         [(0, 0, 0), (100, 100, 100), (5, 4, 100), (-1, 3, 100)])
def test_unsatisfiable_ranges(start: int, end: int, size: int) -> None:
    with pytest.raises(ValueError):
        crypto.plan_range(start, end, size)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), size=st.integers(1, 5 * CHUNK_SIZE))
def test_random_ranges_equal_slice(data: st.DataObject, size: int) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, size - 1))
    plan = crypto.plan_range(start, end, size)
    assert read_range(size, plan) == SOURCE[start:end + 1]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), size=st.integers(1, 5 * CHUNK_SIZE))
def test_short_range_touches_at_most_two_chunks(data: st.DataObject, size: int) -> None:
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start, min(size - 1, start + CHUNK_SIZE - 1)))
    plan = crypto.plan_range(start, end, size)
    assert plan.last_chunk - plan.first_chunk <= 1
    ciphertext = encrypted(size)
    dec = StreamDecryptor(KEY, ciphertext[:HEADER_SIZE], customer_id=CUSTOMER,
                          recording_id=RECORDING, plaintext_size=size,
                          first_chunk=plan.first_chunk, last_chunk=plan.last_chunk)
    dec.update(ciphertext[plan.cipher_start:plan.cipher_end + 1])
    dec.finalize()
    assert dec.chunks_decrypted <= 2


def test_open_ended_decryptor_must_reach_final_chunk() -> None:
    size = 4 * CHUNK_SIZE
    ciphertext = encrypted(size)
    plan = crypto.plan_range(CHUNK_SIZE, 2 * CHUNK_SIZE - 1, size)
    dec = StreamDecryptor(KEY, ciphertext[:HEADER_SIZE], customer_id=CUSTOMER,
                          recording_id=RECORDING, plaintext_size=size, first_chunk=1)
    assert dec.update(ciphertext[plan.cipher_start:plan.cipher_end + 1]) == \
        SOURCE[CHUNK_SIZE:2 * CHUNK_SIZE]
    with pytest.raises(CryptoError):
        dec.finalize()


def test_range_of_chunks_from_wrong_position_fails() -> None:
    size = 4 * CHUNK_SIZE
    ciphertext = encrypted(size)
    plan = crypto.plan_range(2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 9, size)
    wrong = ciphertext[plan.cipher_start - CIPHER_CHUNK_SIZE:plan.cipher_end + 1
                       - CIPHER_CHUNK_SIZE]
    with pytest.raises(CryptoError):
        crypto.decrypt_range(KEY, ciphertext[:HEADER_SIZE], wrong, plan, customer_id=CUSTOMER,
                             recording_id=RECORDING, plaintext_size=size)


def test_short_read_of_range_fails() -> None:
    size = 4 * CHUNK_SIZE
    ciphertext = encrypted(size)
    plan = crypto.plan_range(10, 20, size)
    with pytest.raises(CryptoError):
        crypto.decrypt_range(KEY, ciphertext[:HEADER_SIZE],
                             ciphertext[plan.cipher_start:plan.cipher_end], plan,
                             customer_id=CUSTOMER, recording_id=RECORDING, plaintext_size=size)
