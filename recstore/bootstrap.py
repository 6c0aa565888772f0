"""Start-up preparation shared by `migrate`, `serve`, `worker` and `up`."""

from __future__ import annotations

import asyncpg

from recstore.db import migrate
from recstore.errors import RecstoreError
from recstore.object_store import ObjectStore
from recstore.services import object_store_for
from recstore.settings import EU_REGIONS, Settings

# Objects older than this are removed by the bucket itself even if recstore stopped deleting:
# a backstop 10 days past the 90-day limit, never the mechanism.
LIFECYCLE_BACKSTOP_DAYS = 100


class RegionRefused(RecstoreError):
    title = "Object store region outside the EU"


async def check_bucket_region(store: ObjectStore) -> str | None:
    """Refuse a bucket the store places outside the EU; None when it reports no region."""
    location = await store.bucket_location()
    if location is not None and location not in EU_REGIONS:
        raise RegionRefused(f"bucket {store.bucket!r} reports region {location!r}, not in the EU")
    return location


def admin_object_store_for(settings: Settings) -> ObjectStore:
    """The bucket as the admin identity (RECSTORE_S3_ADMIN_*), or as the service's own when no
    admin identity is configured (a single-identity deployment)."""
    key, secret = settings.s3_admin_access_key, settings.s3_admin_secret_key
    if key is None or secret is None:
        return object_store_for(settings)
    return object_store_for(settings.model_copy(update={"s3_access_key": key,
                                                        "s3_secret_key": secret}))


async def prepare_storage(settings: Settings) -> list[str]:
    conn = await asyncpg.connect(settings.migration_database_url())
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    store = admin_object_store_for(settings)
    await store.ensure_bucket()
    await check_bucket_region(store)
    await store.set_expiry_backstop(LIFECYCLE_BACKSTOP_DAYS)
    return applied
