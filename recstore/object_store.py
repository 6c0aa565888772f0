"""The S3/MinIO object store, behind a small async interface.

The minio client is synchronous, so every call runs in a worker thread. Streaming uploads
feed minio's multipart `put_object` through a bounded queue: memory stays at one part.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

PART_SIZE = 8 * 1024 * 1024
_QUEUE_DEPTH = 8  # pieces in flight between the event loop and the upload thread
_END = object()


class ObjectStoreError(Exception):
    """The object store failed; the message names the operation, never a key's owner."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class _QueueReader:
    """File-like `read(n)` over pieces pushed from the event loop; an exception aborts the put."""

    def __init__(self) -> None:
        self.pieces: queue.Queue[object] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._buffer = bytearray()
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            piece = self.pieces.get()
            if piece is _END:
                self._done = True
            elif isinstance(piece, BaseException):
                raise piece
            else:
                assert isinstance(piece, bytes | bytearray | memoryview)
                self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class ObjectStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, region: str):
        parts = urlsplit(endpoint)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=16,
        )
        self._client = Minio(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
            http_client=http,
        )
        self.bucket = bucket
        self.region = region

    async def _run(self, op: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(func, *args, **kwargs)
        except S3Error as exc:
            raise ObjectStoreError(f"{op} failed: {exc.code}") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ObjectStoreError(f"{op} failed: {type(exc).__name__}") from exc

    async def ensure_bucket(self) -> None:
        if not await self._run("bucket check", self._client.bucket_exists, self.bucket):
            await self._run("bucket create", self._client.make_bucket, self.bucket, self.region)

    async def bucket_location(self) -> str | None:
        """The region the store itself reports for the bucket; None when it reports none.

        minio's public helpers answer with the client's configured region (or "us-east-1"
        for an empty answer), which would prove nothing, so this asks GetBucketLocation.
        """
        def ask() -> str | None:
            response = self._client._url_open(
                "GET", self.region, bucket_name=self.bucket, query_params={"location": ""})
            text = ElementTree.fromstring(response.data.decode()).text  # noqa: S314 - our own store
            if not text:
                return None
            return "eu-west-1" if text == "EU" else text  # S3's legacy name for Ireland

        location: str | None = await self._run("bucket location", ask)
        return location

    async def set_expiry_backstop(self, days: int) -> None:
        rule = Rule(ENABLED, rule_filter=Filter(prefix=""), rule_id="recstore-backstop",
                    expiration=Expiration(days=days))
        await self._run("lifecycle set", self._client.set_bucket_lifecycle, self.bucket,
                        LifecycleConfig([rule]))

    async def expiry_backstop_days(self) -> int | None:
        config = await self._run("lifecycle get", self._client.get_bucket_lifecycle, self.bucket)
        for rule in (config.rules if config else []):
            if rule.rule_id == "recstore-backstop" and rule.expiration is not None:
                days: int | None = rule.expiration.days
                return days
        return None

    async def put_stream(self, key: str, pieces: AsyncIterable[bytes]) -> StoredObject:
        """Upload pieces as one object; if `pieces` raises, the partial upload is aborted."""
        reader = _QueueReader()
        upload = asyncio.create_task(
            self._run("put", self._client.put_object, self.bucket, key, reader, -1,
                      part_size=PART_SIZE)
        )
        async def push(item: object) -> bool:
            while not upload.done():
                try:
                    await asyncio.to_thread(reader.pieces.put, item, True, 0.5)
                    return True
                except queue.Full:
                    continue
            return False

        size = 0
        try:
            async for piece in pieces:
                size += len(piece)
                if not await push(piece):
                    break
            else:
                await push(_END)
        except BaseException as exc:
            await push(exc)
            with contextlib.suppress(Exception):  # the caller's error is the one that matters
                await upload
            raise
        await upload
        return StoredObject(key, size)

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        def read() -> bytes:
            response = self._client.get_object(self.bucket, key, offset=offset, length=length)
            try:
                return bytes(response.read())
            finally:
                response.close()
                response.release_conn()

        data: bytes = await self._run("get", read)
        return data

    async def iter_range(self, key: str, offset: int, length: int,
                         piece_size: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """Yield [offset, offset+length) in pieces, never holding more than one piece."""
        end = offset + length
        while offset < end:
            take = min(piece_size, end - offset)
            piece = await self.get_range(key, offset, take)
            if not piece:
                raise ObjectStoreError("get failed: object shorter than expected")
            yield piece
            offset += len(piece)

    async def size_of(self, key: str) -> int | None:
        try:
            stat = await asyncio.to_thread(self._client.stat_object, self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise ObjectStoreError(f"stat failed: {exc.code}") from exc
        return int(stat.size or 0)

    async def delete(self, key: str) -> None:
        """Remove the object and every version of it; absent objects are fine."""
        def remove_all_versions() -> None:
            versions = [
                DeleteObject(obj.object_name, obj.version_id)
                for obj in self._client.list_objects(self.bucket, prefix=key, include_version=True)
                if obj.object_name == key
            ] or [DeleteObject(key)]
            errors = list(self._client.remove_objects(self.bucket, versions))
            if errors:
                raise ObjectStoreError(f"delete failed: {errors[0].code}")

        await self._run("delete", remove_all_versions)

    async def list_keys(self, prefix: str = "") -> list[str]:
        def collect() -> list[str]:
            return [o.object_name for o in
                    self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                    if o.object_name is not None]

        keys: list[str] = await self._run("list", collect)
        return keys

    async def ping(self) -> None:
        await self._run("ping", self._client.bucket_exists, self.bucket)
