"""The access-log signing key (Ed25519), kept outside the database like the JWT key.

The file (JSON, mode 0600) holds the current private key and the public halves of every key
that signed before it, so checkpoints customers hold keep verifying after a rotation::

    {"current": {"key_id": "audit-20261201-1a2b3c4d", "private_key": "<base64 32-byte seed>"},
     "retired": [{"key_id": "...", "public_key": "<base64 32 bytes>"}]}

Someone with the database alone (the owner DSN) cannot sign: that is what makes a checkpoint
worth holding. Retired private keys are not kept.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from recstore.errors import RecstoreError

log = logging.getLogger("recstore.audit_keys")


class AuditKeyFileInvalid(RecstoreError):
    title = "The audit signing key file is not valid"


@dataclass(frozen=True)
class AuditKeys:
    key_id: str
    signing_key: SigningKey
    retired: dict[str, VerifyKey]

    def public_keys(self) -> dict[str, VerifyKey]:
        """Every key that ever signed a checkpoint here, current one included."""
        return {**self.retired, self.key_id: self.signing_key.verify_key}

    def sign(self, message: bytes) -> bytes:
        return bytes(self.signing_key.sign(message).signature)

    def verify(self, key_id: str, message: bytes, signature: bytes) -> bool:
        key = self.public_keys().get(key_id)
        if key is None:
            raise KeyError(key_id)
        try:
            key.verify(message, signature)
        except BadSignatureError:
            return False
        return True


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _new_key_id() -> str:
    return f"audit-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4)}"


def _unb64(text: Any, length: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length:
        raise AuditKeyFileInvalid(f"{what} is not {length} bytes of base64")
    return raw


def parse(text: str) -> AuditKeys:
    try:
        data = json.loads(text)
        current, retired = data["current"], data.get("retired", [])
        key_id = current["key_id"]
        retired_ids = [entry["key_id"] for entry in retired]
    except (ValueError, KeyError, TypeError):
        raise AuditKeyFileInvalid("expected {\"current\": {\"key_id\", \"private_key\"},"
                                  " \"retired\": [...]}") from None
    if not all(isinstance(k, str) and k for k in (key_id, *retired_ids)):
        raise AuditKeyFileInvalid("every key_id must be a non-empty string")
    seed = _unb64(current["private_key"], 32, f"the private key of {key_id}")
    old = {entry["key_id"]: VerifyKey(_unb64(entry.get("public_key"), 32,
                                             f"the public key of {entry['key_id']}"))
           for entry in retired}
    return AuditKeys(key_id, SigningKey(seed), old)


def dump(keys: AuditKeys) -> str:
    return json.dumps({
        "current": {"key_id": keys.key_id, "private_key": b64(bytes(keys.signing_key))},
        "retired": [{"key_id": k, "public_key": b64(bytes(v))} for k, v in keys.retired.items()],
    }, indent=2) + "\n"


def _write_new(path: Path, text: str) -> bool:
    """Create ``path`` with ``text`` (0600) unless it exists; True when this call created it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.link(tmp, path)  # never replaces a key file another process created meanwhile
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path, *, create: bool = True) -> AuditKeys:
    """The keys in ``path``; a missing file is created with a new key when ``create``."""
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        if not create:
            raise AuditKeyFileInvalid(f"no audit signing key file at {path}") from None
    fresh = AuditKeys(_new_key_id(), SigningKey.generate(), {})
    if _write_new(path, dump(fresh)):
        log.info("generated an audit signing key", extra={"key_id": fresh.key_id})
    return parse(path.read_text())


def rotate(path: Path) -> AuditKeys:
    """A new current key; the old one's public half moves to ``retired``."""
    old = load(path, create=False)
    new = AuditKeys(_new_key_id(), SigningKey.generate(),
                    {**old.retired, old.key_id: old.signing_key.verify_key})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.rotate.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(dump(new))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return new


_cache: dict[Path, tuple[int, AuditKeys]] = {}


def current(path: Path) -> AuditKeys:
    """``load(path)``, re-read when the file changes (a rotation needs no restart)."""
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = -1
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    keys = load(path)
    _cache[path] = (path.stat().st_mtime_ns, keys)
    return keys
