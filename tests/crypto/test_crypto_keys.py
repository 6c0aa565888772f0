"""Epochs, customer key pairs, epoch wrapping of private keys, data keys, fields."""

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import nacl.bindings
import pytest

import crypto
from crypto import CryptoError, CustomerKeyPair
from crypto.fields import field_binding

CUSTOMER = UUID("11111111-1111-4111-8111-111111111111")
CTX = b"caller_number" + bytes(16)  # field name + a recording id, as recstore binds it


def test_epoch_of_is_the_utc_iso_week() -> None:
    assert crypto.epoch_of(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-W49"  # a Monday
    assert crypto.epoch_of(datetime(2026, 11, 29, 23, 59, tzinfo=UTC)) == "2026-W48"
    stockholm_monday = datetime(2026, 11, 30, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert crypto.epoch_of(stockholm_monday) == "2026-W48"  # still Sunday in UTC
    assert crypto.epoch_of(datetime(2027, 1, 1, 12, tzinfo=UTC)) == "2026-W53"  # ISO year


def test_monthly_epoch_names_stay_valid() -> None:
    secret = crypto.new_epoch_secret()
    for epoch in ("2026-11", "2026-W49"):
        wrapped = crypto.wrap_private_key(secret, bytes(32), customer_id=CUSTOMER, epoch=epoch)
        assert crypto.unwrap_private_key(secret, wrapped, customer_id=CUSTOMER,
                                         epoch=epoch) == bytes(32)


def test_epoch_of_rejects_naive() -> None:
    with pytest.raises(ValueError):
        crypto.epoch_of(datetime(2026, 11, 1))


def test_epoch_secrets_are_random() -> None:
    assert len(crypto.new_epoch_secret()) == 32
    assert crypto.new_epoch_secret() != crypto.new_epoch_secret()


def test_keypair_repr_hides_private_key() -> None:
    pair = crypto.generate_customer_keypair()
    assert pair.private_key.hex() not in repr(pair)
    assert repr(pair.private_key) not in repr(pair)
    assert CustomerKeyPair.from_private_key(pair.private_key) == pair


def test_private_key_wrap_round_trip() -> None:
    secret, pair = crypto.new_epoch_secret(), crypto.generate_customer_keypair()
    wrapped = crypto.wrap_private_key(secret, pair.private_key, customer_id=CUSTOMER,
                                      epoch="2026-11")
    assert crypto.unwrap_private_key(secret, wrapped, customer_id=CUSTOMER,
                                     epoch="2026-11") == pair.private_key


@pytest.mark.parametrize(("customer_id", "epoch"),
                         [(uuid4(), "2026-11"), (CUSTOMER, "2026-12"), (CUSTOMER, "2025-11")])
def test_wrapped_private_key_is_bound_to_customer_and_epoch(customer_id: UUID,
                                                            epoch: str) -> None:
    secret = crypto.new_epoch_secret()
    wrapped = crypto.wrap_private_key(secret, bytes(32), customer_id=CUSTOMER, epoch="2026-11")
    with pytest.raises(CryptoError):
        crypto.unwrap_private_key(secret, wrapped, customer_id=customer_id, epoch=epoch)


def test_wrapped_private_key_needs_that_months_secret() -> None:
    wrapped = crypto.wrap_private_key(crypto.new_epoch_secret(), bytes(32),
                                      customer_id=CUSTOMER, epoch="2026-11")
    with pytest.raises(CryptoError):
        crypto.unwrap_private_key(crypto.new_epoch_secret(), wrapped, customer_id=CUSTOMER,
                                  epoch="2026-11")


@pytest.mark.parametrize("cut", [0, 1, 25, 72])
def test_truncated_wrapped_private_key_fails(cut: int) -> None:
    secret = crypto.new_epoch_secret()
    wrapped = crypto.wrap_private_key(secret, bytes(32), customer_id=CUSTOMER, epoch="2026-11")
    with pytest.raises(CryptoError):
        crypto.unwrap_private_key(secret, wrapped[:cut], customer_id=CUSTOMER, epoch="2026-11")


@pytest.mark.parametrize("epoch", ["2026-13", "2026-1", "26-11", "2026-00", "2026/11", "",
                                   "2026-W00", "2026-W54", "2026-w49", "2026W49"])
def test_bad_epoch_strings_rejected(epoch: str) -> None:
    with pytest.raises(ValueError):
        crypto.wrap_private_key(bytes(32), bytes(32), customer_id=CUSTOMER, epoch=epoch)


def test_data_key_seal_and_open() -> None:
    pair = crypto.generate_customer_keypair()
    data_key = crypto.new_data_key()
    sealed = crypto.seal_data_key(pair.public_key, data_key)
    assert crypto.open_data_key(pair, sealed) == data_key
    assert crypto.open_data_key(pair.private_key, sealed) == data_key


def test_data_key_for_other_customer_fails() -> None:
    sealed = crypto.seal_data_key(crypto.generate_customer_keypair().public_key,
                                  crypto.new_data_key())
    with pytest.raises(CryptoError):
        crypto.open_data_key(crypto.generate_customer_keypair(), sealed)


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend"])
def test_damaged_sealed_data_key_fails(damage: str) -> None:
    pair = crypto.generate_customer_keypair()
    sealed = crypto.seal_data_key(pair.public_key, crypto.new_data_key())
    if damage == "flip":
        sealed = bytes([sealed[0] ^ 1]) + sealed[1:]
    elif damage == "truncate":
        sealed = sealed[:-1]
    else:
        sealed += b"\x00"
    with pytest.raises(CryptoError):
        crypto.open_data_key(pair, sealed)


@pytest.mark.parametrize("value", ["", "+46701234567", "Åsa Öberg-Lindqvist", "x" * 31,
                                   "x" * 32, "名前" * 40])
def test_field_round_trip_and_padding(value: str) -> None:
    pair = crypto.generate_customer_keypair()
    sealed = crypto.seal_field(pair.public_key, value, context=CTX)
    assert crypto.open_field(pair, sealed, context=CTX) == value
    assert (len(sealed) - 48 - 16) % 32 == 0


def test_field_length_hidden_within_block() -> None:
    public_key = crypto.generate_customer_keypair().public_key
    assert len(crypto.seal_field(public_key, "+4670123", context=CTX)) == \
        len(crypto.seal_field(public_key, "+46701234567890", context=CTX))


def test_field_for_other_key_fails() -> None:
    sealed = crypto.seal_field(crypto.generate_customer_keypair().public_key, "Alice",
                               context=CTX)
    with pytest.raises(CryptoError):
        crypto.open_field(crypto.generate_customer_keypair(), sealed, context=CTX)


@pytest.mark.parametrize("other", [b"caller_name" + bytes(16), b"caller_number" + bytes(15) + b"\x01",
                                   b""])
def test_field_moved_to_another_context_fails(other: bytes) -> None:
    """A field copied to another recording or column must not open there."""
    pair = crypto.generate_customer_keypair()
    sealed = crypto.seal_field(pair.public_key, "+46701234567", context=CTX)
    with pytest.raises(CryptoError):
        crypto.open_field(pair, sealed, context=other)


@pytest.mark.parametrize(
    "padded", [b"", b"Alice", b"Alice\x80" + bytes(10), b"\xff\x80" + bytes(30)]
)
def test_field_with_bad_padding_or_utf8_fails(padded: bytes) -> None:
    pair = crypto.generate_customer_keypair()
    sealed = nacl.bindings.crypto_box_seal(field_binding(CTX) + padded, pair.public_key)
    with pytest.raises(CryptoError):
        crypto.open_field(pair, sealed, context=CTX)
