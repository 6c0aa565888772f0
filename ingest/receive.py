"""A provider's webhook, from verified delivery to committed job.

Unknown customers, customers without this provider and bad signatures are one and the
same Forbidden, so a caller cannot probe which customers exist. Nothing is fetched here:
the 2xx goes out as soon as the job row is committed, and a retried delivery of the same
recording finds its job and adds nothing.
"""

from __future__ import annotations

import time
from uuid import UUID

from ingest.adapter import Delivery
from ingest.registry import ADAPTERS
from recstore import jobs
from recstore.errors import Forbidden
from recstore.providers_config import load_provider
from recstore.services import Services


async def accept_delivery(svc: Services, provider: str, customer_id: UUID,
                          delivery: Delivery, *, now: float | None = None) -> bool:
    """True when a new job was queued; False for a duplicate or an event with nothing to fetch."""
    adapter = ADAPTERS[provider]
    account = await load_provider(svc.pool, svc.keys, customer_id, provider)
    if account is None:
        raise Forbidden("signature does not match")
    adapter.verify(delivery, account, now=time.time() if now is None else now)
    spec = adapter.parse(delivery)
    if spec is None:
        return False
    return await jobs.enqueue(svc.pool, svc.keys, customer_id=customer_id, provider=provider,
                              provider_recording_id=spec.provider_recording_id,
                              public=spec.public, private=spec.private)
