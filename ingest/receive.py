"""A provider's webhook, from verified delivery to committed job.

Unknown customers, customers without this provider and bad signatures are one and the
same Forbidden, so a caller cannot probe which customers exist. Nothing is fetched here:
the 2xx goes out as soon as the job row is committed, and a retried delivery of the same
recording finds its job and adds nothing.

Accounts are cached for a few seconds per process, so a burst of callbacks does not read
and unwrap the same credentials for each one; changed credentials apply within that time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from uuid import UUID

from ingest.adapter import Delivery
from ingest.registry import ADAPTERS
from recstore.accounts.providers import ProviderAccount, load_provider
from recstore.db import Pool
from recstore.errors import Forbidden
from recstore.jobs import queue as jobs
from recstore.keys import KeyService
from recstore.services import Services

ACCOUNT_TTL_SECONDS = 10.0
_MAX_CACHED = 10_000


class AccountCache:
    """Found accounts only: a customer who just configured a provider is never told no."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[int, UUID, str], tuple[float, Pool, ProviderAccount]] = (
            OrderedDict())

    async def get(self, pool: Pool, keys: KeyService, customer_id: UUID, provider: str
                  ) -> ProviderAccount | None:
        key = (id(pool), customer_id, provider)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now and entry[1] is pool:
            return entry[2]
        account = await load_provider(pool, keys, customer_id, provider)
        if account is None:
            self._entries.pop(key, None)
            return None
        self._entries[key] = (now + ACCOUNT_TTL_SECONDS, pool, account)
        self._entries.move_to_end(key)
        while len(self._entries) > _MAX_CACHED:
            self._entries.popitem(last=False)
        return account


_accounts = AccountCache()


async def accept_delivery(svc: Services, provider: str, customer_id: UUID,
                          delivery: Delivery, *, now: float | None = None) -> bool:
    """True when a new job was queued; False for a duplicate or an event with nothing to fetch."""
    adapter = ADAPTERS[provider]
    account = await _accounts.get(svc.pool, svc.keys, customer_id, provider)
    if account is None:
        raise Forbidden("signature does not match")
    adapter.verify(delivery, account, now=time.time() if now is None else now)
    spec = adapter.parse(delivery)
    if spec is None:
        return False
    return await jobs.enqueue(svc.pool, svc.keys, customer_id=customer_id, provider=provider,
                              provider_recording_id=spec.provider_recording_id,
                              public=spec.public, private=spec.private)
