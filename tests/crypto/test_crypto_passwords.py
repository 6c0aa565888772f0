"""Argon2id password hashes."""

import pytest

from crypto import hash_password, password_needs_rehash, verify_password

# Hashing costs ~0.1 s, so one hash is shared by the tests.
STORED = hash_password("correct horse battery staple")


def test_round_trip_and_format() -> None:
    assert STORED.startswith("$argon2id$v=19$m=65536,t=2,p=1$")
    assert verify_password(STORED, "correct horse battery staple")


def test_wrong_password() -> None:
    assert not verify_password(STORED, "correct horse battery stapler")
    assert not verify_password(STORED, "")


def test_salted() -> None:
    assert hash_password("pw") != hash_password("pw")


def test_unicode_normalisation() -> None:
    stored = hash_password("s\u00e9same")  # composed é
    assert verify_password(stored, "se\u0301same")  # e + combining acute


@pytest.mark.parametrize("malformed", [
    "", "plaintext", "$argon2id$", "$argon2i$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
    STORED[:-5], STORED[:20], STORED.replace("$v=19$", "$v=99$"), "$argon2id$\u00e9",
    "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
])
def test_malformed_hash_is_false_not_an_exception(malformed: str) -> None:
    assert verify_password(malformed, "correct horse battery staple") is False


def test_needs_rehash() -> None:
    assert not password_needs_rehash(STORED)
    assert password_needs_rehash(STORED.replace("m=65536,t=2", "m=262144,t=3"))
    assert password_needs_rehash("garbage")
