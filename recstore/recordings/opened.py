"""Recently opened recordings: data key and stream header, kept a few seconds.

A player reads one recording as many Range requests; unwrapping its key pair (a database
round trip and two public-key operations) and fetching its 25-byte header each time would
double a small read's latency. Entries are keyed by the recording id *and* its sealed data
key, and are only consulted after the request's own row lookup found the recording live
for this customer: a shredded key (sealed_data_key emptied) or deleted row is never served
from here. The TTL bounds how long a key outlives a shredded epoch secret in this process.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from uuid import UUID

import asyncpg

TTL_SECONDS = 10.0
MAX_ENTRIES = 512


@dataclass
class Opened:
    data_key: bytes
    header: bytes | None
    until: float


class OpenedCache:
    def __init__(self, ttl: float = TTL_SECONDS, size: int = MAX_ENTRIES) -> None:
        self._ttl, self._size = ttl, size
        self._entries: OrderedDict[tuple[UUID, bytes], Opened] = OrderedDict()

    @staticmethod
    def _key(row: asyncpg.Record) -> tuple[UUID, bytes]:
        return row["id"], bytes(row["sealed_data_key"])

    def get(self, row: asyncpg.Record) -> Opened | None:
        key = self._key(row)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.until < time.monotonic():
            del self._entries[key]
            return None
        return entry

    def put(self, row: asyncpg.Record, data_key: bytes, header: bytes | None) -> None:
        key = self._key(row)
        self._entries[key] = Opened(data_key, header, time.monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


OPENED = OpenedCache()
