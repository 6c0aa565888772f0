"""Small encrypted fields (caller number, caller name) sealed to the epoch key pair.

Values are padded (ISO/IEC 7816-4: 0x80 then zeros) to a multiple of 32 bytes before
sealing, so the ciphertext length does not reveal a number's or name's exact length.
Sealed boxes take no associated data, so a 16-byte binding tag of the caller's context
(recstore uses the recording id and field name) is sealed inside: a field copied to
another recording or another column no longer opens.
"""

import hmac

import nacl.bindings as sodium
from nacl.encoding import RawEncoder
from nacl.hash import blake2b

from .datakeys import open_sealed_box
from .errors import CryptoError
from .keypairs import CustomerKeyPair, check_public_key

PAD_BLOCK = 32
BINDING_SIZE = 16
_BINDING_PERSON = b"recstore-field1"


def field_binding(context: bytes) -> bytes:
    return blake2b(context, digest_size=BINDING_SIZE, person=_BINDING_PERSON,
                   encoder=RawEncoder)


def seal_field(public_key: bytes, value: str, *, context: bytes) -> bytes:
    check_public_key(public_key)
    encoded = value.encode("utf-8") + b"\x80"
    padded = encoded + bytes(-len(encoded) % PAD_BLOCK)
    return sodium.crypto_box_seal(field_binding(context) + padded, public_key)


def open_field(keypair: CustomerKeyPair, sealed: bytes, *, context: bytes) -> str:
    plaintext = open_sealed_box(keypair, sealed)
    binding, padded = plaintext[:BINDING_SIZE], plaintext[BINDING_SIZE:]
    if not hmac.compare_digest(binding, field_binding(context)):
        raise CryptoError()
    unpadded = padded.rstrip(b"\x00")
    if len(padded) % PAD_BLOCK or not unpadded.endswith(b"\x80"):
        raise CryptoError()
    try:
        return unpadded[:-1].decode("utf-8")
    except UnicodeDecodeError:
        raise CryptoError() from None
