"""Master keyring: parsing, wrapping, rotation."""

import base64

import pytest

from crypto import CryptoError, MasterKeyring

K1, K2 = bytes(range(32)), bytes(range(32, 64))
AAD = b"epoch-secret 2026-11"


def entry(key_id: str, key: bytes) -> str:
    return f"{key_id}:{base64.b64encode(key).decode()}"


def test_parse_and_current_is_newest() -> None:
    ring = MasterKeyring.parse(f" {entry('2025-a', K1)} , {entry('2026.b_c', K2)}\n")
    assert ring.key_ids() == ["2025-a", "2026.b_c"]
    assert ring.current_id == "2026.b_c"


def test_round_trip() -> None:
    ring = MasterKeyring([("k1", K1)])
    blob = ring.wrap(b"secret", aad=AAD)
    assert ring.unwrap(blob, aad=AAD) == b"secret"
    assert blob[:4] == b"\x01\x02k1"
    assert ring.wrap(b"secret", aad=AAD) != blob  # random nonce


def test_rotation_keeps_old_blobs_and_wraps_with_newest() -> None:
    old_ring = MasterKeyring([("k1", K1)])
    old_blob = old_ring.wrap(b"secret", aad=AAD)
    ring = MasterKeyring([("k1", K1), ("k2", K2)])
    assert ring.unwrap(old_blob, aad=AAD) == b"secret"
    assert ring.needs_rewrap(old_blob)
    new_blob = ring.rewrap(old_blob, aad=AAD)
    assert not ring.needs_rewrap(new_blob)
    assert new_blob[2:4] == b"k2"
    assert not ring.needs_rewrap(ring.wrap(b"x", aad=b""))
    with pytest.raises(CryptoError):
        old_ring.unwrap(new_blob, aad=AAD)  # unknown id k2


def test_unknown_key_id_fails() -> None:
    blob = MasterKeyring([("k1", K1)]).wrap(b"secret", aad=AAD)
    with pytest.raises(CryptoError):
        MasterKeyring([("k9", K1)]).unwrap(blob, aad=AAD)


def test_same_key_under_other_id_fails() -> None:
    blob = bytearray(MasterKeyring([("k1", K1)]).wrap(b"secret", aad=AAD))
    blob[3] = ord("2")
    with pytest.raises(CryptoError):
        MasterKeyring([("k2", K1)]).unwrap(bytes(blob), aad=AAD)


def test_wrong_aad_fails() -> None:
    ring = MasterKeyring([("k1", K1)])
    with pytest.raises(CryptoError):
        ring.unwrap(ring.wrap(b"secret", aad=AAD), aad=b"epoch-secret 2026-12")


@pytest.mark.parametrize("position", [0, 1, 2, 5, 30, -1])
def test_tampered_blob_fails(position: int) -> None:
    ring = MasterKeyring([("k1", K1)])
    blob = bytearray(ring.wrap(b"secret", aad=AAD))
    blob[position] ^= 0x40
    with pytest.raises(CryptoError) as info:
        ring.unwrap(bytes(blob), aad=AAD)
    assert str(info.value) == "decryption failed"


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01\x02k1", b"\x01\xffk1" + bytes(60)])
def test_malformed_blob_fails(blob: bytes) -> None:
    ring = MasterKeyring([("k1", K1)])
    with pytest.raises(CryptoError):
        ring.unwrap(blob, aad=AAD)
    with pytest.raises(CryptoError):
        ring.needs_rewrap(blob)


@pytest.mark.parametrize("text", [
    "",
    "   ",
    "k1",
    f"k1:{base64.b64encode(K1).decode()[:-2]}!!",
    f"k1:{base64.b64encode(K1[:31]).decode()}",
    f"k1:{base64.b64encode(K1 + b'x').decode()}",
    f"{entry('k1', K1)},{entry('k1', K2)}",
    f"{entry('k1', K1)},",
    entry("bad id", K1),
    entry("a/b", K1),
    entry("x" * 65, K1),
    entry("", K1),
])
def test_parse_errors_are_clear_and_hide_key_material(text: str) -> None:
    with pytest.raises(ValueError) as info:
        MasterKeyring.parse(text)
    message = str(info.value)
    for key in (K1, K2):
        assert base64.b64encode(key).decode()[:8] not in message
        assert key.hex()[:8] not in message


def test_constructor_validates() -> None:
    with pytest.raises(ValueError):
        MasterKeyring([])
    with pytest.raises(ValueError):
        MasterKeyring([("k1", K1[:16])])


def test_generate_entry_parses_and_is_fresh() -> None:
    first, second = MasterKeyring.generate_entry("k1"), MasterKeyring.generate_entry("k2")
    ring = MasterKeyring.parse(f"{first},{second}")
    assert ring.current_id == "k2"
    assert first.split(":")[1] != second.split(":")[1]
    with pytest.raises(ValueError):
        MasterKeyring.generate_entry("no spaces")


def test_repr_shows_no_key_material() -> None:
    ring = MasterKeyring([("k1", K1)])
    assert "k1" in repr(ring)
    assert K1.hex()[:8] not in repr(ring) and "\\x00\\x01" not in repr(ring)
