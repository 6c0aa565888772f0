"""Grant keys: the customer's consent as key material the staff service can open.

Sealing happens where the data keys can be opened or are at hand: in the customer role when
a grant is made (every covered recording), and at ingest for recordings that arrive while an
"all recordings" grant is live (ingest holds the data key it just made and the staff public
key). Revocation, expiry, deletion of the recording and erasure destroy them. The staff role
opens a recording only through one of these, whatever the grants table says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from crypto import CryptoError, CustomerKeyPair, open_data_key, open_grant_key, seal_grant_key
from recstore.custody import KeyMaterialMissing
from recstore.db import Connection, Pool
from recstore.keys import KeyService

log = logging.getLogger("recstore.grants")


@dataclass(frozen=True)
class GrantBinding:
    grant_id: UUID
    customer_id: UUID
    staff_id: UUID | None
    expires_at: datetime


def _seal(keys: KeyService, grant: GrantBinding, recording_id: UUID, data_key: bytes) -> bytes:
    if keys.staff_public_key is None:
        raise KeyMaterialMissing("grants need the staff public key (RECSTORE_STAFF_PUBLIC_KEY)")
    return seal_grant_key(keys.staff_public_key, data_key, grant_id=grant.grant_id,
                          recording_id=recording_id, customer_id=grant.customer_id,
                          staff_id=grant.staff_id, expires_at=int(grant.expires_at.timestamp()))


async def _insert(conn: Connection, grant: GrantBinding, sealed: list[tuple[UUID, bytes]]) -> None:
    await conn.executemany(
        "INSERT INTO grant_keys (grant_id, recording_id, customer_id, expires_at, sealed_key)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        [(grant.grant_id, rid, grant.customer_id, grant.expires_at, key) for rid, key in sealed])


async def seal_for_grant(conn: Connection, keys: KeyService, grant: GrantBinding,
                         recording_ids: Sequence[UUID] | None) -> int:
    """Seal every live covered recording (all of the customer's when `recording_ids` is
    None); call inside the grant's transaction. Returns how many were sealed."""
    rows = await conn.fetch(
        "SELECT id, epoch, sealed_data_key FROM recordings WHERE customer_id = $1"
        " AND shredded_at IS NULL AND expires_at > now() AND octet_length(sealed_data_key) > 0"
        " AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))",
        grant.customer_id, None if recording_ids is None else list(recording_ids))
    pairs: dict[str, CustomerKeyPair] = {}
    sealed = []
    for row in rows:
        if row["epoch"] not in pairs:
            pairs[row["epoch"]] = await keys.keypair(conn, grant.customer_id, row["epoch"])
        data_key = open_data_key(pairs[row["epoch"]], bytes(row["sealed_data_key"]))
        sealed.append((row["id"], _seal(keys, grant, row["id"], data_key)))
    await _insert(conn, grant, sealed)
    return len(sealed)


async def lock_customer_grants(conn: Connection, customer_id: UUID) -> None:
    """Orders a new grant against concurrent ingest (which inserts under the customer row's
    share lock), so every recording is sealed either by the grant or by its ingest."""
    await conn.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id)


async def seal_at_ingest(conn: Connection, keys: KeyService, customer_id: UUID,
                         recording_id: UUID, data_key: bytes) -> int:
    """For a recording just inserted (same transaction): a grant key under every live
    "all recordings" grant of its customer."""
    grants = await conn.fetch(
        "SELECT id, staff_id, expires_at FROM grants WHERE customer_id = $1 AND all_recordings"
        " AND revoked_at IS NULL AND expires_at > now()", customer_id)
    for grant in grants:
        binding = GrantBinding(grant["id"], customer_id, grant["staff_id"], grant["expires_at"])
        await _insert(conn, binding, [(recording_id, _seal(keys, binding, recording_id,
                                                           data_key))])
    return len(grants)


async def destroy_for_grant(conn: Connection, grant_id: UUID) -> None:
    await conn.execute("DELETE FROM grant_keys WHERE grant_id = $1", grant_id)


async def purge_expired(pool: Pool) -> int:
    """Expired grant keys are destroyed (the staff role also refuses them by their binding)."""
    result = await pool.execute("DELETE FROM grant_keys WHERE expires_at <= now()")
    return int(result.split()[-1])


async def open_for_staff(conn: Connection, keys: KeyService, customer_id: UUID,
                         recording_id: UUID, staff_id: UUID, now: datetime
                         ) -> tuple[UUID, bytes] | None:
    """(grant id, data key) from a grant key that opens for this staff member now, preferring
    a grant naming them; None when none does. A live grant row without a grant key that opens
    (forged or un-revoked in the database) is logged as such."""
    candidates = await conn.fetch(
        "SELECT k.grant_id, k.sealed_key FROM grant_keys k JOIN grants g ON g.id = k.grant_id"
        " WHERE k.recording_id = $1 AND k.customer_id = $2 AND g.customer_id = $2"
        " AND g.revoked_at IS NULL AND g.expires_at > now()"
        " AND (g.staff_id IS NULL OR g.staff_id = $3)"
        " ORDER BY g.staff_id IS NULL, g.expires_at DESC", recording_id, customer_id, staff_id)
    for row in candidates:
        try:
            data_key = open_grant_key(keys.staff_keys, bytes(row["sealed_key"]),
                                      grant_id=row["grant_id"], recording_id=recording_id,
                                      customer_id=customer_id, staff_id=staff_id,
                                      now=int(now.timestamp()))
        except CryptoError:
            log.warning("grant key does not open for this grant; refused",
                        extra={"grant_id": str(row["grant_id"]),
                               "recording_id": str(recording_id)})
            continue
        return row["grant_id"], data_key
    return None
