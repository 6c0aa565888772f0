"""Re-wrapping under the newest master key, after a rotation: `recstore keys rewrap`.

A rotation appends a key to RECSTORE_MASTER_KEYS; new wraps use it at once, and everything
wrapped before keeps unwrapping under its old key id. This pass re-wraps those older blobs
(the epoch key file's secrets, customers' secrets and provider credentials, queued jobs'
private fields, notification secrets, the service's own secrets) so that the old key can be
removed. Blobs this keyring cannot open (another keyring's) are left alone and counted, never
altered. Each row is updated only if it still holds the blob that was read, so a concurrent
writer always wins. Idempotent: a second pass changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto import CryptoError, MasterKeyring
from recstore.db import Pool
from recstore.keys import KeyService


@dataclass(frozen=True)
class Source:
    table: str
    keys: tuple[str, ...]  # columns that name the row
    column: str  # the wrapped blob
    aad: str  # SQL giving the associated data the blob was wrapped with


def _customer_secret(purpose_sql: str, customer_sql: str = "customer_id") -> str:
    # As KeyService.wrap_secret binds them: "recstore <purpose> <customer id>".
    return f"'recstore ' || {purpose_sql} || ' ' || {customer_sql}::text"


SOURCES = (
    Source("customers", ("id",), "webhook_secret_wrapped", _customer_secret("'webhook'", "id")),
    Source("customers", ("id",), "index_key_wrapped", _customer_secret("'blind-index'", "id")),
    Source("provider_accounts", ("customer_id", "provider"), "credentials_wrapped",
           _customer_secret("'provider-credentials ' || provider")),
    Source("ingest_jobs", ("id",), "sealed", _customer_secret("'job-personal ' || id::text")),
    Source("notification_webhooks", ("customer_id",), "secret_wrapped",
           _customer_secret("'notify-webhook'")),
    Source("service_secrets", ("name",), "wrapped", "'recstore service secret ' || name"),
)


@dataclass
class RewrapResult:
    epoch_secrets: int = 0
    rewrapped: dict[str, int] = field(default_factory=dict)  # "table.column" -> rows re-wrapped
    not_ours: int = 0  # blobs of another keyring, left as they were
    current_key_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"current_key_id": self.current_key_id, "epoch_secrets": self.epoch_secrets,
                "rewrapped": self.rewrapped, "total": self.epoch_secrets + sum(self.rewrapped.values()),
                "not_ours": self.not_ours}


async def _rewrap_source(pool: Pool, keyring: MasterKeyring, source: Source,
                         result: RewrapResult) -> None:
    names = ", ".join(source.keys)
    rows = await pool.fetch(
        f"SELECT {names}, {source.column} AS blob, {source.aad} AS aad"  # noqa: S608 - constants
        f" FROM {source.table} WHERE {source.column} IS NOT NULL"
        f" AND octet_length({source.column}) > 0")
    where = " AND ".join(f"{name} = ${i + 3}" for i, name in enumerate(source.keys))
    done = 0
    for row in rows:
        blob = bytes(row["blob"])
        try:
            if not keyring.needs_rewrap(blob):
                continue
            fresh = keyring.rewrap(blob, aad=row["aad"].encode())
        except CryptoError:  # another keyring's blob (or not a wrap at all): not ours to touch
            result.not_ours += 1
            continue
        status = await pool.execute(
            f"UPDATE {source.table} SET {source.column} = $1"  # noqa: S608 - constants
            f" WHERE {source.column} = $2 AND {where}",
            fresh, blob, *(row[name] for name in source.keys))
        if status != "UPDATE 0":  # 0: changed under us, and the writer's blob stands
            done += 1
    if done:
        result.rewrapped[f"{source.table}.{source.column}"] = done


async def rewrap_all(pool: Pool, keys: KeyService) -> RewrapResult:
    """Re-wrap every blob of the master keyring still under an older key (see module doc)."""
    keyring = keys.keyring
    result = RewrapResult(current_key_id=keyring.current_id, epoch_secrets=keys.epochs.rewrap())
    for source in SOURCES:
        await _rewrap_source(pool, keyring, source, result)
    return result
