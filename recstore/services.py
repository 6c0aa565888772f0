"""What every handler and job needs, built once per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from crypto import MasterKeyring
from recstore.auth.tokens import TokenService, token_service_for
from recstore.db import Pool, create_pool
from recstore.epoch_keys import EpochKeyStore
from recstore.keys import KeyService
from recstore.metrics import Metrics
from recstore.object_store import ObjectStore
from recstore.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: Pool
    store: ObjectStore
    keys: KeyService
    tokens: TokenService
    metrics: Metrics


def object_store_for(settings: Settings) -> ObjectStore:
    return ObjectStore(settings.s3_endpoint, settings.s3_access_key.get_secret_value(),
                       settings.s3_secret_key.get_secret_value(), settings.s3_bucket,
                       settings.s3_region, ca_file=settings.s3_ca_file)


def key_service_for(settings: Settings) -> KeyService:
    keyring = MasterKeyring.parse(settings.master_keys_text())
    return KeyService(keyring, EpochKeyStore(settings.epoch_keys_file, keyring))


@asynccontextmanager
async def open_services(settings: Settings, *, metrics: Metrics | None = None,
                        pool_size: int = 10) -> AsyncIterator[Services]:
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=pool_size)
    try:
        yield Services(settings, pool, object_store_for(settings), key_service_for(settings),
                       token_service_for(settings), metrics or Metrics())
    finally:
        await pool.close()
