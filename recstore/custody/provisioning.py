"""Epoch key material made before it is needed.

The webhooks role and the fetch worker hold no epoch secret, so they cannot make a key pair
for a new epoch: every customer's key pair for the current and the coming epochs exists in
advance. A process holding the master and ingest keyrings (`serve --role all`, `up`, or
`recstore keys provision` from cron in a split deployment) runs this; customer creation
provisions the new customer at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from uuid import UUID

from crypto import epoch_of
from recstore.db import Connection, Pool
from recstore.keys import KeyService
from recstore.retention.policy import epoch_end

log = logging.getLogger("recstore.custody.provisioning")
EPOCHS_AHEAD = 2  # besides the current one: ingest keeps working if provisioning stops a while


def upcoming_epochs(now: datetime, ahead: int = EPOCHS_AHEAD) -> list[str]:
    epochs = [epoch_of(now)]
    for _ in range(ahead):
        epochs.append(epoch_of(epoch_end(epochs[-1])))
    return epochs


async def provision_customer(conn: Connection, keys: KeyService, customer_id: UUID, *,
                             now: datetime | None = None) -> None:
    for epoch in upcoming_epochs(now or datetime.now(UTC)):
        await keys.provision(conn, customer_id, epoch)


async def provision_all(pool: Pool, keys: KeyService, *, now: datetime | None = None) -> int:
    """Key pairs for every live customer and upcoming epoch that lacks one; how many made."""
    made = 0
    for epoch in upcoming_epochs(now or datetime.now(UTC)):
        keys.epochs.get_or_create(epoch)
        missing = await pool.fetch(
            "SELECT c.id FROM customers c WHERE c.erased_at IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM customer_keys k WHERE k.customer_id = c.id AND k.epoch = $1)"
            " AND NOT EXISTS (SELECT 1 FROM customer_erasures e WHERE e.customer_id = c.id)",
            epoch)
        for row in missing:
            async with pool.acquire() as conn:
                await keys.provision(conn, row["id"], epoch)
            made += 1
    return made
