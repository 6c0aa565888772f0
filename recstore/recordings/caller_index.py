"""Caller search that shredding reaches: blind indexes under per-epoch keys.

Each recording's caller index is keyed by its customer and epoch, from the epoch's index
secret in the epoch key file (crypto.epoch_index_key); destroying the epoch destroys the
secret, so a backup of the rows plus every remaining key cannot confirm a guessed caller of
that period. Search computes the number's index under every live epoch.

Recordings indexed before this, under one per-customer key wrapped by the master keyring
alone (never destroyed), are re-indexed by `reindex_legacy`, which then clears that key.
Until then search also tries the legacy key.
"""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg

from crypto import CryptoError, blind_index, normalize_phone, open_field
from recstore.db import Pool
from recstore.errors import KeyShredded, RecstoreError
from recstore.keys import KeyService
from recstore.recordings.store import field_context

log = logging.getLogger("recstore.recordings.caller_index")
_LEGACY_AAD = "recstore blind-index {}"


def _legacy_key(keys: KeyService, customer: asyncpg.Record) -> bytes | None:
    wrapped = customer["index_key_wrapped"]
    if not wrapped:
        return None
    return keys.keyring.unwrap(bytes(wrapped), aad=_LEGACY_AAD.format(customer["id"]).encode())


async def caller_search_indexes(keys: KeyService, customer: asyncpg.Record,
                                e164: str) -> list[bytes]:
    indexes = keys.search_indexes(customer["id"], e164)
    legacy = _legacy_key(keys, customer)
    if legacy is not None:
        indexes.append(blind_index(legacy, e164))
    return indexes


async def _reindex_customer(pool: Pool, keys: KeyService, customer_id: UUID) -> int:
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, epoch, caller_number_sealed FROM recordings WHERE customer_id = $1"
            " AND caller_number_sealed IS NOT NULL AND shredded_at IS NULL FOR UPDATE",
            customer_id)
        done = 0
        for row in rows:
            try:
                pair = await keys.keypair(conn, customer_id, row["epoch"])
                number = normalize_phone(open_field(
                    pair, bytes(row["caller_number_sealed"]),
                    context=field_context("caller_number", row["id"])))
            except (KeyShredded, CryptoError, ValueError):
                continue  # unreadable or not a number: nothing to find it by
            index = blind_index(keys.index_key(customer_id, row["epoch"]), number)
            await conn.execute("UPDATE recordings SET caller_index = $2 WHERE id = $1",
                               row["id"], index)
            done += 1
        await conn.execute("UPDATE customers SET index_key_wrapped = NULL WHERE id = $1",
                           customer_id)
    return done


async def reindex_legacy(pool: Pool, keys: KeyService) -> int:
    """Re-index every recording still under a legacy per-customer key, then drop that key.
    Idempotent; needs the master keyring (and the ingest keyring for epochs whose index secret
    does not exist yet). Returns how many recordings were re-indexed."""
    customers = await pool.fetch(
        "SELECT id FROM customers WHERE octet_length(index_key_wrapped) > 0")
    total = 0
    for customer in customers:
        try:
            total += await _reindex_customer(pool, keys, customer["id"])
        except RecstoreError:
            log.warning("caller re-index postponed for a customer",
                        extra={"customer_id": str(customer["id"])})
    return total
