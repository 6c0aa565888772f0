"""The worker's part of staff access: expire unanswered requests, deliver notifications."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pydantic import ValidationError

from recstore.consent import access_requests, notify
from recstore.consent.notify_channels import notifier_for
from recstore.errors import RecstoreError
from recstore.services import Services

log = logging.getLogger("recstore.consent")
INTERVAL_SECONDS = 15.0


def configured_notifier(svc: Services) -> notify.Notifier:
    try:
        return notifier_for(notify.NotifySettings(), svc.keys,
                            require_tls=svc.settings.require_tls)
    except (ValidationError, RecstoreError) as exc:
        # Only the type: a validation message could echo a configured address or secret.
        log.error("notification settings are invalid; notifying by log only",
                  extra={"error": type(exc).__name__})
        return notify.LogNotifier()


async def one_pass(svc: Services, notifier: notify.Notifier) -> None:
    async with svc.pool.acquire() as conn:
        await access_requests.expire_pending(conn)
    await notify.deliver_due(svc.pool, notifier)


async def run_consent_jobs(svc: Services, stop: asyncio.Event,
                           interval: float = INTERVAL_SECONDS) -> None:
    notifier = configured_notifier(svc)
    while not stop.is_set():
        try:
            await one_pass(svc, notifier)
        except Exception:
            log.exception("consent pass failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
