"""Grant keys: a recording's data key sealed to the staff service, bound to one grant.

A customer's consent is made of these, not of a database row: the staff service opens a
recording only with a grant key, and the key itself says which grant, recording, customer,
staff member (or any) and until when it is good for. A row forged or un-revoked in the
database carries no grant key and so opens nothing; revocation deletes the grant keys.
"""

import struct
from uuid import UUID

import nacl.bindings as sodium
import nacl.exceptions

from .datakeys import DATA_KEY_SIZE
from .errors import CryptoError
from .keypairs import CustomerKeyPair, check_public_key

GRANT_KEY_VERSION = 1
_ANY_STAFF = bytes(16)
_BINDING = struct.Struct(">B16s16s16s16sq")  # version, grant, recording, customer, staff, expiry
GRANT_KEY_SIZE: int = 1 + _BINDING.size + DATA_KEY_SIZE + sodium.crypto_box_SEALBYTES


def _binding(grant_id: UUID, recording_id: UUID, customer_id: UUID, staff_id: UUID | None,
             expires_at: int) -> bytes:
    for value in (grant_id, recording_id, customer_id):
        if not isinstance(value, UUID):
            raise TypeError("ids must be UUIDs")
    staff = _ANY_STAFF if staff_id is None else staff_id.bytes
    return _BINDING.pack(GRANT_KEY_VERSION, grant_id.bytes, recording_id.bytes,
                         customer_id.bytes, staff, expires_at)


def seal_grant_key(staff_public_key: bytes, data_key: bytes, *, grant_id: UUID,
                   recording_id: UUID, customer_id: UUID, staff_id: UUID | None,
                   expires_at: int) -> bytes:
    """`expires_at` in Unix seconds; `staff_id` None means any staff member."""
    check_public_key(staff_public_key)
    if not isinstance(data_key, bytes) or len(data_key) != DATA_KEY_SIZE:
        raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
    binding = _binding(grant_id, recording_id, customer_id, staff_id, expires_at)
    return bytes([GRANT_KEY_VERSION]) + sodium.crypto_box_seal(binding + data_key,
                                                               staff_public_key)


def open_grant_key(staff_keys: CustomerKeyPair, sealed: bytes, *, grant_id: UUID,
                   recording_id: UUID, customer_id: UUID, staff_id: UUID, now: int) -> bytes:
    """The data key, if `sealed` is a grant key for exactly this grant, recording and
    customer, for this staff member or any, and not expired at `now`; CryptoError otherwise."""
    if len(sealed) != GRANT_KEY_SIZE or sealed[0] != GRANT_KEY_VERSION:
        raise CryptoError()
    try:
        plain = sodium.crypto_box_seal_open(sealed[1:], staff_keys.public_key,
                                            staff_keys.private_key)
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, nacl.exceptions.ValueError):
        raise CryptoError() from None
    version, grant, recording, customer, staff, expiry = _BINDING.unpack(plain[:_BINDING.size])
    if (version != GRANT_KEY_VERSION or grant != grant_id.bytes
            or recording != recording_id.bytes or customer != customer_id.bytes
            or staff not in (_ANY_STAFF, staff_id.bytes) or expiry <= now):
        raise CryptoError()
    return plain[_BINDING.size:]
