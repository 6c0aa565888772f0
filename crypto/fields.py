"""Small encrypted fields (caller number, caller name) sealed to the epoch key pair.

Values are padded (ISO/IEC 7816-4: 0x80 then zeros) to a multiple of 32 bytes before
sealing, so the ciphertext length does not reveal a number's or name's exact length.
"""

import nacl.bindings as sodium

from .datakeys import open_sealed_box
from .errors import CryptoError
from .keypairs import CustomerKeyPair, check_public_key

PAD_BLOCK = 32


def seal_field(public_key: bytes, value: str) -> bytes:
    check_public_key(public_key)
    encoded = value.encode("utf-8") + b"\x80"
    padded = encoded + bytes(-len(encoded) % PAD_BLOCK)
    return sodium.crypto_box_seal(padded, public_key)


def open_field(keypair: CustomerKeyPair, sealed: bytes) -> str:
    padded = open_sealed_box(keypair, sealed)
    unpadded = padded.rstrip(b"\x00")
    if len(padded) % PAD_BLOCK or not unpadded.endswith(b"\x80"):
        raise CryptoError()
    try:
        return unpadded[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise CryptoError() from None
