"""Master keyring: several named 32-byte keys, the newest wraps, all of them unwrap.

Rotation appends a key; blobs wrapped under older keys keep unwrapping, and
`needs_rewrap` finds the ones to re-wrap at leisure. Audio is never re-encrypted.
"""

import base64
import binascii
import re
from collections.abc import Sequence

from . import aead
from .errors import CryptoError
from .kdf import derive_subkey

KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MASTER_KEY_SIZE = 32
WRAP_VERSION = 1
_AAD_LABEL = b"recstore/keyring/v1"
# The raw master key never touches data: wraps use a purpose-bound subkey of it.
_KDF_CONTEXT = b"rskeyrng"


def _check_key_id(key_id: str, where: str) -> None:
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise ValueError(f"{where}: key id must match [A-Za-z0-9_.-]{{1,64}}")


class MasterKeyring:
    """Keys as (key_id, 32-byte key), oldest first; the last one wraps."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("keyring is empty")
        self._wrap_keys: dict[str, bytes] = {}
        for position, (key_id, key) in enumerate(keys, start=1):
            where = f"keyring entry {position}"
            _check_key_id(key_id, where)
            if not isinstance(key, bytes) or len(key) != MASTER_KEY_SIZE:
                raise ValueError(f"{where}: key must be {MASTER_KEY_SIZE} bytes")
            if key_id in self._wrap_keys:
                raise ValueError(f"{where}: duplicate key id {key_id!r}")
            self._wrap_keys[key_id] = derive_subkey(key, 1, _KDF_CONTEXT)
        self._current_id = keys[-1][0]

    @classmethod
    def parse(cls, text: str) -> "MasterKeyring":
        """Parse "id1:BASE64KEY,id2:BASE64KEY" (newest last)."""
        entries = [entry.strip() for entry in text.split(",")]
        if not text.strip():
            raise ValueError("keyring is empty")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            where = f"keyring entry {position}"
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise ValueError(f"{where}: expected 'id:BASE64KEY'")
            _check_key_id(key_id, where)
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where} ({key_id!r}): key is not valid base64") from None
            if len(key) != MASTER_KEY_SIZE:
                raise ValueError(f"{where} ({key_id!r}): key must decode to 32 bytes")
            keys.append((key_id, key))
        return cls(keys)

    @staticmethod
    def generate_entry(key_id: str) -> str:
        """A new "id:BASE64" entry with 32 fresh random bytes, for configuration."""
        _check_key_id(key_id, "generate_entry")
        key = aead.random_bytes(MASTER_KEY_SIZE)
        return f"{key_id}:{base64.b64encode(key).decode('ascii')}"

    @property
    def current_id(self) -> str:
        return self._current_id

    def key_ids(self) -> list[str]:
        return list(self._wrap_keys)

    def wrap(self, plaintext: bytes, *, aad: bytes) -> bytes:
        return self._wrap_with_nonce(plaintext, aad, aead.random_bytes(aead.NONCE_SIZE))

    def _wrap_with_nonce(self, plaintext: bytes, aad: bytes, nonce: bytes) -> bytes:
        # Separate from wrap() only so tests can produce fixed vectors.
        key_id = self._current_id.encode("ascii")
        header = bytes([WRAP_VERSION, len(key_id)]) + key_id
        sealed = aead.seal(self._wrap_keys[self._current_id], nonce, plaintext,
                           _AAD_LABEL + header + aad)
        return header + nonce + sealed

    def unwrap(self, blob: bytes, *, aad: bytes) -> bytes:
        key_id, header_len = _parse_header(blob)
        wrap_key = self._wrap_keys.get(key_id)
        if wrap_key is None:
            raise CryptoError()
        nonce = blob[header_len:header_len + aead.NONCE_SIZE]
        sealed = blob[header_len + aead.NONCE_SIZE:]
        return aead.open_(wrap_key, nonce, sealed, _AAD_LABEL + blob[:header_len] + aad)

    def rewrap(self, blob: bytes, *, aad: bytes) -> bytes:
        """Unwrap with whichever key made `blob` and wrap again under the current key."""
        return self.wrap(self.unwrap(blob, aad=aad), aad=aad)

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        """The id of the key that wrapped `blob` (CryptoError if malformed)."""
        return _parse_header(blob)[0]

    def needs_rewrap(self, blob: bytes) -> bool:
        """True if `blob` names a key other than the current one (CryptoError if malformed)."""
        key_id, _ = _parse_header(blob)
        return key_id != self._current_id

    def __repr__(self) -> str:
        return f"MasterKeyring(key_ids={self.key_ids()!r}, current_id={self._current_id!r})"


def _parse_header(blob: bytes) -> tuple[str, int]:
    """Return (key_id, header length) or raise CryptoError for a malformed blob."""
    if len(blob) < 2 or blob[0] != WRAP_VERSION:
        raise CryptoError()
    header_len = 2 + blob[1]
    if len(blob) < header_len + aead.NONCE_SIZE + aead.TAG_SIZE:
        raise CryptoError()
    try:
        key_id = blob[2:header_len].decode("ascii")
    except UnicodeDecodeError:
        raise CryptoError() from None
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise CryptoError()
    return key_id, header_len
