"""Moving ingest secrets from the master keyring to the ingest keyring.

Webhook secrets, provider credentials, queued jobs' private fields and notification
secrets were wrapped by the master keyring; the webhooks role and the fetch worker hold the
ingest keyring instead. `recstore keys migrate-ingest` (and `up` at every start) re-wraps
every such blob still under a master key (or an older ingest key) under the newest ingest
key, so neither keyring has to be held where it does not belong. Idempotent.
"""

from __future__ import annotations

from uuid import UUID

from recstore.db import Pool
from recstore.keys import KeyService

# (table, key columns, wrapped column, purpose from the row); customer_id binds each blob.
_SOURCES: list[tuple[str, str, str, str]] = [
    ("customers", "id", "webhook_secret_wrapped", "'webhook'"),
    ("provider_accounts", "customer_id, provider", "credentials_wrapped",
     "'provider-credentials ' || provider"),
    ("ingest_jobs", "id", "sealed", "'job-personal ' || id::text"),
    ("notification_webhooks", "customer_id", "secret_wrapped", "'notify-webhook'"),
]
_CUSTOMER_COLUMN = {"customers": "id"}


async def rewrap_ingest_secrets(pool: Pool, keys: KeyService) -> int:
    changed = 0
    for table, key_columns, column, purpose in _SOURCES:
        customer = _CUSTOMER_COLUMN.get(table, "customer_id")
        rows = await pool.fetch(
            f"SELECT {key_columns}, {customer} AS owner, {purpose} AS purpose,"  # noqa: S608
            f" {column} AS wrapped FROM {table}"
            f" WHERE {column} IS NOT NULL AND octet_length({column}) > 0")
        for row in rows:
            owner: UUID = row["owner"]
            fresh = keys.rewrap_secret(owner, row["purpose"], bytes(row["wrapped"]))
            if fresh is None:
                continue
            names = [name.strip() for name in key_columns.split(",")]
            where = " AND ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
            await pool.execute(
                f"UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND {where}",  # noqa: S608
                fresh, bytes(row["wrapped"]), *(row[name] for name in names))
            changed += 1
    return changed
