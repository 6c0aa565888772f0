"""Every pull-style provider adapter, by the name used in routes, jobs and accounts."""

from __future__ import annotations

from ingest.adapter import ProviderAdapter
from ingest.elks import ElksAdapter
from ingest.telnyx import TelnyxAdapter
from ingest.twilio import TwilioAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.name: adapter for adapter in (TwilioAdapter(), ElksAdapter(), TelnyxAdapter())
}
