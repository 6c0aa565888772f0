"""Streaming ciphertext: round trips, buffering, and detection of every tampering."""

import os
from uuid import UUID, uuid4

import pytest

import crypto
from crypto import CHUNK_SIZE, HEADER_SIZE, CryptoError, StreamDecryptor, StreamEncryptor
from crypto.stream_format import CIPHER_CHUNK_SIZE, MAX_CHUNKS, TAG_SIZE

KEY = bytes(range(32))
CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
RECORDING = UUID("22222222-2222-4222-8222-222222222222")
# 3 full chunks and a partial final one: first, middle and last chunks all exist.
PLAINTEXT = os.urandom(3 * CHUNK_SIZE + 1000)


def encrypt(plaintext: bytes = PLAINTEXT, key: bytes = KEY) -> bytes:
    return crypto.encrypt_audio(key, plaintext, customer_id=CUSTOMER, recording_id=RECORDING)


def chunk_offset(index: int) -> int:
    return HEADER_SIZE + index * CIPHER_CHUNK_SIZE


def flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


def decrypt_chunkwise(
    ciphertext: bytes,
    *,
    size: int = len(PLAINTEXT),
    key: bytes = KEY,
    customer_id: UUID = CUSTOMER,
    recording_id: UUID = RECORDING,
) -> tuple[bytes, BaseException | None]:
    """Feed one ciphertext chunk per update(); return what came out and the error."""
    returned = bytearray()
    try:
        dec = StreamDecryptor(key, ciphertext[:HEADER_SIZE], customer_id=customer_id,
                              recording_id=recording_id, plaintext_size=size)
        body = ciphertext[HEADER_SIZE:]
        for offset in range(0, len(body), CIPHER_CHUNK_SIZE):
            returned += dec.update(body[offset:offset + CIPHER_CHUNK_SIZE])
        returned += dec.finalize()
    except CryptoError as error:
        return bytes(returned), error
    return bytes(returned), None


def assert_rejected(
    ciphertext: bytes,
    *,
    good_prefix_chunks: int,
    key: bytes = KEY,
    customer_id: UUID = CUSTOMER,
    recording_id: UUID = RECORDING,
) -> None:
    """Fails as CryptoError, and nothing but chunks before the damage was ever returned.

    Checked both with the size the database stored and with the size derived from the
    (possibly tampered) object length.
    """
    returned, error = decrypt_chunkwise(ciphertext, key=key, customer_id=customer_id,
                                        recording_id=recording_id)
    assert isinstance(error, CryptoError)
    assert str(error) == "decryption failed"
    assert returned == PLAINTEXT[:good_prefix_chunks * CHUNK_SIZE]
    with pytest.raises(CryptoError):
        crypto.decrypt_audio(key, ciphertext, customer_id=customer_id, recording_id=recording_id)


@pytest.mark.parametrize("size", [0, 1, 5, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1,
                                  2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 1000])
def test_round_trip_and_sizes(size: int) -> None:
    plaintext = PLAINTEXT[:size]
    ciphertext = encrypt(plaintext)
    assert len(ciphertext) == crypto.ciphertext_size(size)
    assert crypto.plaintext_size(len(ciphertext)) == size
    assert crypto.decrypt_audio(KEY, ciphertext, customer_id=CUSTOMER,
                                recording_id=RECORDING) == plaintext


def test_empty_stream_is_one_empty_final_chunk() -> None:
    assert len(encrypt(b"")) == HEADER_SIZE + TAG_SIZE


def test_exact_chunk_multiple_has_no_trailing_empty_chunk() -> None:
    assert len(encrypt(bytes(2 * CHUNK_SIZE))) == HEADER_SIZE + 2 * CIPHER_CHUNK_SIZE


@pytest.mark.parametrize("size", [HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1,
                                  HEADER_SIZE + CIPHER_CHUNK_SIZE + TAG_SIZE,
                                  HEADER_SIZE + CIPHER_CHUNK_SIZE + 3])
def test_impossible_ciphertext_sizes_rejected(size: int) -> None:
    with pytest.raises(ValueError):
        crypto.plaintext_size(size)


def test_header_layout() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING,
                          nonce_prefix=bytes(19))
    assert enc.header == b"RSTR\x01\x10" + bytes(19)
    assert len(enc.header) == HEADER_SIZE
    other = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    assert other.header[6:] != StreamEncryptor(KEY, customer_id=CUSTOMER,
                                               recording_id=RECORDING).header[6:]


def test_encryptor_holds_back_at_most_one_chunk() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    assert enc.update(bytes(CHUNK_SIZE)) == b""  # might still be the final chunk
    assert len(enc.update(b"x")) == CIPHER_CHUNK_SIZE
    assert len(enc.update(bytes(5 * CHUNK_SIZE))) == 5 * CIPHER_CHUNK_SIZE
    assert enc._buffer.size == 1
    assert len(enc.finalize()) == 1 + TAG_SIZE


def test_encryptor_refuses_use_after_finalize() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    enc.finalize()
    with pytest.raises(RuntimeError):
        enc.update(b"more")
    with pytest.raises(RuntimeError):
        enc.finalize()


def test_encryptor_refuses_more_than_max_chunks() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    enc._index = MAX_CHUNKS - 1
    with pytest.raises(ValueError):
        enc.update(bytes(CHUNK_SIZE + 1))
    final_only = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    final_only._index = MAX_CHUNKS - 1
    assert len(final_only.finalize()) == TAG_SIZE


def test_bad_key_and_ids_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        StreamEncryptor(bytes(31), customer_id=CUSTOMER, recording_id=RECORDING)
    with pytest.raises(TypeError):
        StreamEncryptor(KEY, customer_id=str(CUSTOMER), recording_id=RECORDING)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        StreamDecryptor(KEY, encrypt()[:HEADER_SIZE], customer_id=CUSTOMER,
                        recording_id=RECORDING, plaintext_size=10, first_chunk=1)


def test_untampered_stream_decrypts_chunkwise() -> None:
    assert decrypt_chunkwise(encrypt()) == (PLAINTEXT, None)


def test_bit_flip_in_header_nonce_prefix() -> None:
    assert_rejected(flip(encrypt(), HEADER_SIZE - 1), good_prefix_chunks=0)


def test_bit_flip_in_header_magic_or_version() -> None:
    ciphertext = encrypt()
    for position in (0, 4, 5):
        assert_rejected(flip(ciphertext, position), good_prefix_chunks=0)


def test_bit_flip_in_middle_chunk() -> None:
    assert_rejected(flip(encrypt(), chunk_offset(1) + 100), good_prefix_chunks=1)


def test_bit_flip_in_tag() -> None:
    assert_rejected(flip(encrypt(), chunk_offset(2) - 1), good_prefix_chunks=1)


def test_bit_flip_in_last_chunk() -> None:
    assert_rejected(flip(encrypt(), chunk_offset(3) + 10), good_prefix_chunks=3)


def test_truncation_at_every_chunk_boundary() -> None:
    ciphertext = encrypt()
    for index in range(4):
        assert_rejected(ciphertext[:chunk_offset(index)], good_prefix_chunks=index)


@pytest.mark.parametrize("cut", [1, TAG_SIZE, CHUNK_SIZE, CIPHER_CHUNK_SIZE - 1])
def test_truncation_inside_chunks(cut: int) -> None:
    ciphertext = encrypt()
    for index in range(3):
        assert_rejected(ciphertext[:chunk_offset(index) + cut], good_prefix_chunks=index)
    assert_rejected(ciphertext[:-1], good_prefix_chunks=3)


def test_truncation_inside_header() -> None:
    assert_rejected(encrypt()[:HEADER_SIZE - 1], good_prefix_chunks=0)


def test_reordering_two_chunks() -> None:
    c = encrypt()
    swapped = c[:chunk_offset(1)] + c[chunk_offset(2):chunk_offset(3)] \
        + c[chunk_offset(1):chunk_offset(2)] + c[chunk_offset(3):]
    assert_rejected(swapped, good_prefix_chunks=1)


def test_duplicating_a_chunk_in_place_of_another() -> None:
    c = encrypt()
    duplicated = c[:chunk_offset(2)] + c[chunk_offset(1):chunk_offset(2)] + c[chunk_offset(3):]
    assert_rejected(duplicated, good_prefix_chunks=2)


def test_inserting_a_duplicate_chunk() -> None:
    c = encrypt()
    inserted = c[:chunk_offset(2)] + c[chunk_offset(1):chunk_offset(2)] + c[chunk_offset(2):]
    assert_rejected(inserted, good_prefix_chunks=2)


def test_dropping_the_last_chunk() -> None:
    assert_rejected(encrypt()[:chunk_offset(3)], good_prefix_chunks=3)


def test_dropping_the_final_chunk_of_an_exact_multiple() -> None:
    plaintext = PLAINTEXT[:3 * CHUNK_SIZE]
    ciphertext = encrypt(plaintext)[:chunk_offset(2)]
    # Now a valid-looking 2-chunk size: only the final flag can tell.
    with pytest.raises(CryptoError):
        crypto.decrypt_audio(KEY, ciphertext, customer_id=CUSTOMER, recording_id=RECORDING)


@pytest.mark.parametrize("extra", [b"\x00", bytes(TAG_SIZE), bytes(CIPHER_CHUNK_SIZE)])
def test_appended_data(extra: bytes) -> None:
    assert_rejected(encrypt() + extra, good_prefix_chunks=3)


def test_appended_data_in_same_update_as_final_chunk() -> None:
    c = encrypt()
    dec = StreamDecryptor(KEY, c[:HEADER_SIZE], customer_id=CUSTOMER, recording_id=RECORDING,
                          plaintext_size=len(PLAINTEXT))
    with pytest.raises(CryptoError):
        dec.update(c[HEADER_SIZE:] + b"!")


def test_other_recording_id() -> None:
    assert_rejected(encrypt(), good_prefix_chunks=0, recording_id=uuid4())


def test_other_customer_id() -> None:
    assert_rejected(encrypt(), good_prefix_chunks=0, customer_id=uuid4())


def test_wrong_data_key() -> None:
    assert_rejected(encrypt(), good_prefix_chunks=0, key=crypto.new_data_key())


def test_decryptor_refuses_use_after_failure() -> None:
    c = flip(encrypt(), chunk_offset(0) + 5)
    dec = StreamDecryptor(KEY, c[:HEADER_SIZE], customer_id=CUSTOMER, recording_id=RECORDING,
                          plaintext_size=len(PLAINTEXT))
    with pytest.raises(CryptoError):
        dec.update(c[HEADER_SIZE:])
    with pytest.raises(CryptoError):
        dec.update(b"")
    with pytest.raises(CryptoError):
        dec.finalize()


def test_decryptor_with_stored_size_rejects_shorter_claimed_size() -> None:
    # The database says 2 chunks, the object really has 4: chunk 1 lacks the final flag.
    returned, error = decrypt_chunkwise(encrypt()[:chunk_offset(2)], size=2 * CHUNK_SIZE)
    assert isinstance(error, CryptoError)
    assert returned == PLAINTEXT[:CHUNK_SIZE]


def test_caller_reusing_its_buffer_after_update_does_not_corrupt() -> None:
    enc = StreamEncryptor(KEY, customer_id=CUSTOMER, recording_id=RECORDING)
    reused = bytearray(PLAINTEXT[:1000])
    parts = [enc.header, enc.update(reused)]
    reused[:] = bytes(1000)
    parts.append(enc.update(memoryview(bytearray(PLAINTEXT[1000:2000]))))
    parts.append(enc.finalize())
    assert crypto.decrypt_audio(KEY, b"".join(parts), customer_id=CUSTOMER,
                                recording_id=RECORDING) == PLAINTEXT[:2000]


def test_decryptor_copes_with_reused_caller_buffer() -> None:
    c = encrypt(PLAINTEXT[:CHUNK_SIZE + 10])
    dec = StreamDecryptor(KEY, c[:HEADER_SIZE], customer_id=CUSTOMER, recording_id=RECORDING,
                          plaintext_size=CHUNK_SIZE + 10)
    reused = bytearray(c[HEADER_SIZE:HEADER_SIZE + 100])
    out = dec.update(reused)
    reused[:] = bytes(100)
    out += dec.update(bytearray(c[HEADER_SIZE + 100:]))
    dec.finalize()
    assert out == PLAINTEXT[:CHUNK_SIZE + 10]
