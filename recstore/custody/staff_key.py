"""The staff service's X25519 key pair: a file holding the private key (base64, mode 0600),
read only by the staff role; every other process knows the public key alone."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from crypto import CustomerKeyPair, generate_customer_keypair
from recstore.custody import KeyMaterialMissing


def load_staff_keys(path: Path) -> CustomerKeyPair:
    try:
        private_key = base64.b64decode(path.read_text().strip(), validate=True)
        return CustomerKeyPair.from_private_key(private_key)
    except FileNotFoundError:
        raise KeyMaterialMissing("RECSTORE_STAFF_KEY_FILE names no file") from None
    except (binascii.Error, ValueError):
        raise KeyMaterialMissing("RECSTORE_STAFF_KEY_FILE does not hold a base64 X25519 key"
                                 ) from None


def parse_staff_public_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise KeyMaterialMissing("RECSTORE_STAFF_PUBLIC_KEY is not a base64 32-byte key")
    return key


def generate_staff_key_file(path: Path) -> bool:
    """Create the key file unless it exists; True if it was created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pair = generate_customer_keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(base64.b64encode(pair.private_key).decode() + "\n")
    return True


def public_key_text(pair: CustomerKeyPair) -> str:
    return base64.b64encode(pair.public_key).decode()
