"""derive_subkey equals libsodium's crypto_kdf_derive_from_key."""

import ctypes
import ctypes.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import derive_subkey

MASTER = bytes(range(32))
CONTEXT = b"KDF test"
# libsodium test/default/kdf.exp (jedisct1/libsodium, test/default/kdf.c): 64-byte subkeys
# for subkey_id 0..9, then subkeys of length n with subkey_id n.
LIBSODIUM_64_BYTE = [
    "a0c724404728c8bb95e5433eb6a9716171144d61efb23e74b873fcbeda51d807"
    "1b5d70aae12066dfc94ce943f145aa176c055040c3dd73b0a15e36254d450614",
    "02507f144fa9bf19010bf7c70b235b4c2663cc00e074f929602a5e2c10a78075"
    "7d2a3993d06debc378a90efdac196dd841817b977d67b786804f6d3cd585bab5",
    "1944da61ff18dc2028c3578ac85be904931b83860896598f62468f1cb5471c6a"
    "344c945dbc62c9aaf70feb62472d17775ea5db6ed5494c68b7a9a59761f39614",
    "131c0ca1633ed074986215b264f6e0474f362c52b029effc7b0f75977ee89cc9"
    "5d85c3db87f7e399197a25411592beeeb7e5128a74646a460ecd6deb4994b71e",
    "a7023a0bf9be245d078aed26bcde0465ff0cc0961196a5482a0ff4ff8b401597"
    "1e13611f50529cb408f5776b14a90e7c3dd9160a22211db64ff4b5c0b9953680",
    "50f49313f3a05b2e565c13feedb44daa675cafd42c2b2cf9edbce9c949fbfc3f"
    "175dcb738671509ae2ea66fb85e552394d479afa7fa3affe8791744796b94176",
    "13b58d6d69780089293862cd59a1a8a4ef79bb850e3f3ba41fb22446a7dd1dc4"
    "da4667d37b33bf1225dcf8173c4c349a5d911c5bd2db9c5905ed70c11e809e3b",
    "15d44b4b44ffa006eeceeb508c98a970aaa573d65905687b9e15854dec6d49c6"
    "12757e149f78268f727660dedf9abce22a9691feb20a01b0525f4b47a3cf19db",
    "9aebba11c5428ae8225716369e30a48943be39159a899f804e9963ef78822e18"
    "6c21fe95bb0b85e60ef03a6f58d0b9d06e91f79d0ab998450b8810c73ca935b4",
    "70f9b83e463fb441e7a4c43275125cd5b19d8e2e4a5d179a39f5db10bbce745a"
    "199104563d308cf8d4c6b27bbb759ded232f5bdb7c367dd632a9677320dfe416",
]
LIBSODIUM_SIZED = [
    (16, "a529216624ef9161e4cf117272aafff2"),
    (17, "068bd6940b80c6cc2530a68c31d9f4e323"),
    (32, "154b291f11196737f8b7f491e4ca11764e0227d34f94295408a869f007aa8618"),
    (33, "e9dd395570e09ebb523ffc6ba098a38b17bc4944f14bd3725bdd7edbd8bcff54"
         "fb"),
    (63, "02f9cbdb10759314515b01379c474ad74a1b575137bd3949776dbcfc3e18060c"
         "b13ee1f6dcf86035768fc7be63e01de321cacbfade209900dd94273fd8e176"),
    (64, "06ae14308eeeda62a00cb6d5edf18d1707029515db98f472bbf0617419301b1d"
         "4f4f2ab65849446be46f87e1d31c6c74283897b9976f70d8a16253ac927e0d9f"),
]


def test_libsodium_vectors_64_bytes() -> None:
    for subkey_id, expected in enumerate(LIBSODIUM_64_BYTE):
        assert derive_subkey(MASTER, subkey_id, CONTEXT, 64).hex() == expected


@pytest.mark.parametrize(("size", "expected"), LIBSODIUM_SIZED)
def test_libsodium_vectors_sized(size: int, expected: str) -> None:
    assert derive_subkey(MASTER, size, CONTEXT, size).hex() == expected


def _libsodium() -> ctypes.CDLL | None:
    path = ctypes.util.find_library("sodium")
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    if not hasattr(lib, "crypto_kdf_derive_from_key") or lib.sodium_init() < 0:
        return None
    return lib


LIBSODIUM = _libsodium()


@pytest.mark.skipif(LIBSODIUM is None, reason="no system libsodium to cross-check against")
@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), subkey_id=st.integers(0, 2**64 - 1),
       context=st.binary(min_size=8, max_size=8), size=st.integers(16, 64))
def test_equals_system_libsodium(key: bytes, subkey_id: int, context: bytes, size: int) -> None:
    assert LIBSODIUM is not None
    out = ctypes.create_string_buffer(size)
    assert LIBSODIUM.crypto_kdf_derive_from_key(
        out, ctypes.c_size_t(size), ctypes.c_uint64(subkey_id), context, key) == 0
    assert derive_subkey(key, subkey_id, context, size) == out.raw


@pytest.mark.parametrize(("key", "subkey_id", "context", "size"), [
    (bytes(31), 0, CONTEXT, 32),
    (MASTER, -1, CONTEXT, 32),
    (MASTER, 2**64, CONTEXT, 32),
    (MASTER, 0, b"short", 32),
    (MASTER, 0, b"too long!", 32),
    (MASTER, 0, CONTEXT, 15),
    (MASTER, 0, CONTEXT, 65),
])
def test_rejects_what_libsodium_rejects(key: bytes, subkey_id: int, context: bytes,
                                        size: int) -> None:
    with pytest.raises(ValueError):
        derive_subkey(key, subkey_id, context, size)
