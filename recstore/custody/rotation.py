"""Key rotation: after a key is added to the master or the ingest keyring, re-wrap everything
still under an older key of it, so the old key can be removed (`recstore keys rewrap`).

New wraps use the newest key at once; older blobs keep unwrapping by their key id until this
pass re-wraps them: the epoch key file (epoch secrets under the master keyring, both wraps of
each caller-index secret), the service's own secrets and legacy per-customer index keys
(master), and the ingest secrets (`ingest_keyring.rewrap_ingest_secrets`: webhook secrets,
provider credentials, queued jobs, notification secrets, including any still under a master
key). Blobs neither keyring held here can open are counted and left alone. A row is updated
only while it still holds the blob that was read, so a concurrent writer wins. Idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto import CryptoError, MasterKeyring
from recstore.custody import KeyMaterialMissing
from recstore.custody.ingest_keyring import rewrap_ingest_secrets
from recstore.db import Pool
from recstore.keys import KeyService


@dataclass(frozen=True)
class MasterBlob:
    table: str
    keys: tuple[str, ...]  # columns that name the row
    column: str  # the wrapped blob
    aad: str  # SQL giving the associated data it was wrapped with


MASTER_BLOBS = (
    MasterBlob("service_secrets", ("name",), "wrapped", "'recstore service secret ' || name"),
    # Per-customer index keys from before per-epoch indexes (`keys reindex` clears them).
    MasterBlob("customers", ("id",), "index_key_wrapped",
               "'recstore blind-index ' || id::text"),
)


@dataclass
class RotationResult:
    master_key_id: str
    ingest_key_id: str | None
    rewrapped: dict[str, int] = field(default_factory=dict)  # where -> wraps renewed
    not_ours: int = 0  # blobs of a keyring this process does not hold, left as they were

    def as_dict(self) -> dict[str, Any]:
        return {"master_key_id": self.master_key_id, "ingest_key_id": self.ingest_key_id,
                "rewrapped": self.rewrapped, "total": sum(self.rewrapped.values()),
                "not_ours": self.not_ours}


async def _rewrap_master_blobs(pool: Pool, keyring: MasterKeyring, blob: MasterBlob,
                               result: RotationResult) -> None:
    names = ", ".join(blob.keys)
    rows = await pool.fetch(
        f"SELECT {names}, {blob.column} AS blob, {blob.aad} AS aad"  # noqa: S608 - constants
        f" FROM {blob.table} WHERE {blob.column} IS NOT NULL AND octet_length({blob.column}) > 0")
    where = " AND ".join(f"{name} = ${i + 3}" for i, name in enumerate(blob.keys))
    done = 0
    for row in rows:
        old = bytes(row["blob"])
        try:
            if not keyring.needs_rewrap(old):
                continue
            fresh = keyring.rewrap(old, aad=row["aad"].encode())
        except CryptoError:  # another keyring's blob (or no wrap at all): not ours to touch
            result.not_ours += 1
            continue
        status = await pool.execute(
            f"UPDATE {blob.table} SET {blob.column} = $1"  # noqa: S608 - constants
            f" WHERE {blob.column} = $2 AND {where}", fresh, old, *(row[n] for n in blob.keys))
        if status != "UPDATE 0":  # 0: changed under us, and the writer's blob stands
            done += 1
    if done:
        result.rewrapped[f"{blob.table}.{blob.column}"] = done


async def rewrap_all(pool: Pool, keys: KeyService) -> RotationResult:
    """Re-wrap under the newest keys (see the module doc); needs the master keyring, and
    renews the ingest secrets too where the ingest keyring is held."""
    keyring = keys.keyring
    try:
        ingest: MasterKeyring | None = keys.ingest_keyring
    except KeyMaterialMissing:
        ingest = None
    result = RotationResult(keyring.current_id, ingest.current_id if ingest else None)
    if epoch_file := keys.epochs.rewrap():
        result.rewrapped["epoch key file"] = epoch_file
    for blob in MASTER_BLOBS:
        await _rewrap_master_blobs(pool, keyring, blob, result)
    if ingest is not None and (renewed := await rewrap_ingest_secrets(pool, keys)):
        result.rewrapped["ingest secrets"] = renewed
    return result
