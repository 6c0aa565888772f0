"""Bucket operations the janitor and retention need beyond `ObjectStore`'s interface: a
paged listing with each object's age, and deleting a whole batch in one request.

Paging: minio's listing with `start_after`, one LIST request per page, in the key order S3
defines (UTF-8 bytes), so memory stays at one page.

Batch deletes: a bucket that has never had versioning holds exactly one object per key, so
one multi-object delete (up to 1000 keys) removes a batch for good. Where versioning is or
was on, every version has to go, which `ObjectStore.delete` does key by key.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import urllib3
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from recstore.object_store import ObjectStore, ObjectStoreError

PAGE_SIZE = 1000
_T = TypeVar("_T")


@dataclass(frozen=True)
class ListedObject:
    key: str
    last_modified: datetime | None


async def _call(op: str, func: Callable[..., _T], *args: Any) -> _T:
    try:
        return await asyncio.to_thread(func, *args)
    except S3Error as exc:
        raise ObjectStoreError(f"{op} failed: {exc.code}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ObjectStoreError(f"{op} failed: {type(exc).__name__}") from exc


async def iter_pages(store: ObjectStore, prefix: str,
                     page_size: int = PAGE_SIZE) -> AsyncIterator[list[ListedObject]]:
    client, bucket = store._client, store.bucket

    def page(after: str | None) -> list[ListedObject]:
        listing = client.list_objects(bucket, prefix=prefix, recursive=True, start_after=after)
        return [ListedObject(o.object_name, o.last_modified)
                for o in itertools.islice(listing, page_size) if o.object_name is not None]

    after: str | None = None
    while True:
        objects = await _call("list", page, after)
        if not objects:
            return
        yield objects
        if len(objects) < page_size:
            return
        after = objects[-1].key


async def never_versioned(store: ObjectStore) -> bool:
    config = await _call("versioning check", store._client.get_bucket_versioning, store.bucket)
    return config.status in (None, "Off")  # SeaweedFS reports no status at all


async def delete_unversioned(store: ObjectStore, keys: Sequence[str]) -> dict[str, str]:
    """Delete keys of a never-versioned bucket in as few requests as S3 allows (minio sends
    up to 1000 per request); returns the keys that failed, each with its error code. Absent
    keys count as deleted."""
    client, bucket = store._client, store.bucket

    def remove() -> dict[str, str]:
        errors = client.remove_objects(bucket, [DeleteObject(key) for key in keys])
        return {error.name: f"delete failed: {error.code}" for error in errors
                if error.name is not None and error.code != "NoSuchKey"}

    return await _call("delete", remove)
