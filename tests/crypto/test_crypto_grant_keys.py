"""Grant keys open only for the grant, recording, customer and staff member they name, and
only before their expiry; any tampering is the one opaque CryptoError."""

from __future__ import annotations

import uuid

import pytest

from crypto import CryptoError, generate_customer_keypair, new_data_key, open_grant_key, seal_grant_key

STAFF = generate_customer_keypair()
GRANT, RECORDING, CUSTOMER, MEMBER = (uuid.uuid4() for _ in range(4))


def _sealed(staff_id: uuid.UUID | None = MEMBER, expires_at: int = 2_000) -> tuple[bytes, bytes]:
    data_key = new_data_key()
    return data_key, seal_grant_key(STAFF.public_key, data_key, grant_id=GRANT,
                                    recording_id=RECORDING, customer_id=CUSTOMER,
                                    staff_id=staff_id, expires_at=expires_at)


def _open(sealed: bytes, **changes: object) -> bytes:
    args: dict[str, object] = {"grant_id": GRANT, "recording_id": RECORDING,
                               "customer_id": CUSTOMER, "staff_id": MEMBER, "now": 1_000}
    args.update(changes)
    return open_grant_key(STAFF, sealed, **args)  # type: ignore[arg-type]


def test_round_trip_for_the_named_and_for_any_staff_member() -> None:
    data_key, sealed = _sealed()
    assert _open(sealed) == data_key
    any_key, any_sealed = _sealed(staff_id=None)
    assert _open(any_sealed, staff_id=uuid.uuid4()) == any_key


@pytest.mark.parametrize("change", [
    {"grant_id": uuid.uuid4()}, {"recording_id": uuid.uuid4()}, {"customer_id": uuid.uuid4()},
    {"staff_id": uuid.uuid4()}, {"now": 2_000}, {"now": 3_000},
])
def test_any_other_binding_is_refused(change: dict[str, object]) -> None:
    _, sealed = _sealed()
    with pytest.raises(CryptoError):
        _open(sealed, **change)


def test_tampered_truncated_or_foreign_keys_are_refused() -> None:
    _, sealed = _sealed()
    flipped = bytearray(sealed)
    flipped[-1] ^= 1
    for bad in (bytes(flipped), sealed[:-1], b"\x02" + sealed[1:]):
        with pytest.raises(CryptoError):
            _open(bad)
    with pytest.raises(CryptoError):
        open_grant_key(generate_customer_keypair(), sealed, grant_id=GRANT, recording_id=RECORDING,
                       customer_id=CUSTOMER, staff_id=MEMBER, now=1_000)
