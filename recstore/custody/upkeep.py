"""The key upkeep loop of a process holding the master and ingest keyrings (`serve --role
all`, `up`): keys provisioned ahead, monthly epochs moved to weekly ones, caller indexes moved
to per-epoch keys. Each step is idempotent; a failed pass is retried next interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from recstore.custody.provisioning import provision_all
from recstore.recordings.caller_index import reindex_legacy
from recstore.retention.weekly_epochs import migrate_monthly_epochs
from recstore.services import Services

log = logging.getLogger("recstore.provisioning")
INTERVAL_SECONDS = 3600.0


async def key_upkeep_loop(svc: Services, stop: asyncio.Event,
                          interval: float = INTERVAL_SECONDS) -> None:
    while not stop.is_set():
        try:
            made = await provision_all(svc.pool, svc.keys)
            if made:
                log.info("customer keys provisioned ahead", extra={"count": made})
            await migrate_monthly_epochs(svc.pool, svc.keys)
            await reindex_legacy(svc.pool, svc.keys)
        except Exception:
            log.exception("key upkeep failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
