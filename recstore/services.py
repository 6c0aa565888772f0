"""What every handler and job needs, built once per process, holding only the key material
the process's role allows (recstore/custody.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from crypto import MasterKeyring
from recstore.auth.tokens import TokenService, token_service_for
from recstore.custody import OPERATOR, Custody, KeyMaterialMissing
from recstore.custody.staff_key import load_staff_keys, parse_staff_public_key
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
    custody: Custody = OPERATOR


def object_store_for(settings: Settings) -> ObjectStore:
    return ObjectStore(settings.s3_endpoint, settings.s3_access_key.get_secret_value(),
                       settings.s3_secret_key.get_secret_value(), settings.s3_bucket,
                       settings.s3_region, ca_file=settings.s3_ca_file)


def _keyring(text: Callable[[], str | None], variable: str) -> MasterKeyring | None:
    """None when not configured; a malformed keyring stops the process naming the variable
    (the parser's messages name entry positions and ids, never key material)."""
    try:
        found = text()
        return MasterKeyring.parse(found) if found else None
    except (OSError, ValueError) as exc:
        raise KeyMaterialMissing(f"{variable} (or {variable}_FILE) is not usable: {exc}"
                                 ) from None


def key_service_for(settings: Settings, custody: Custody = OPERATOR) -> KeyService:
    keyring = _keyring(settings.master_keys_text, "RECSTORE_MASTER_KEYS") \
        if custody.master else None
    ingest = _keyring(settings.ingest_keys_text, "RECSTORE_INGEST_KEYS") \
        if custody.ingest else None
    staff_keys = None
    if custody.staff_private and settings.staff_key_file is not None:
        staff_keys = load_staff_keys(settings.staff_key_file)
    staff_public = None
    if custody.staff_public and settings.staff_public_key is not None:
        staff_public = parse_staff_public_key(settings.staff_public_key)
    elif custody.staff_public and settings.staff_key_file is not None and staff_keys is None:
        staff_public = load_staff_keys(settings.staff_key_file).public_key
    return KeyService(keyring, EpochKeyStore(settings.epoch_keys_file, keyring, ingest), ingest=ingest,
                      staff_public_key=staff_public, staff_keys=staff_keys)


def token_service_for_custody(settings: Settings, custody: Custody) -> TokenService:
    return token_service_for(settings, signing=custody.jwt_signing)


@asynccontextmanager
async def open_services(settings: Settings, *, metrics: Metrics | None = None,
                        pool_size: int = 10, custody: Custody = OPERATOR
                        ) -> AsyncIterator[Services]:
    keys = key_service_for(settings, custody)
    tokens = token_service_for_custody(settings, custody)
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=pool_size)
    store = object_store_for(settings)
    try:
        yield Services(settings, pool, store, keys, tokens, metrics or Metrics(), custody)
    finally:
        await store.close()
        await pool.close()
