"""The S3/MinIO object store, behind a small async interface.

The minio client is synchronous, so its calls run in worker threads. Object bodies bypass
it (recstore/object_http.py): GETs always, read into the caller's buffers, and PUTs of a
known size where the payload need not be hashed, streamed from the loop; the rest goes up
as minio multipart uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import urllib3
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from recstore.object_http import ObjectHTTP, ObjectReader, ObjectStoreError, ssl_context_for

__all__ = ["ListedObject", "ObjectReader", "ObjectStore", "ObjectStoreError", "StoredObject"]

PART_SIZE = 8 * 1024 * 1024
# One part uploading while the next fills: each more in flight costs every upload a part
# (8 MiB) of memory, and eight at once must stay within the service's budget (BENCHMARKS.md).
PARTS_IN_FLIGHT = 1
LIST_PAGE_SIZE = 1000
READ_WINDOW = 16 * 1024 * 1024
PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class ListedObject:
    key: str
    last_modified: datetime | None


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class ObjectStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, bucket: str, region: str,
                 *, ca_file: Path | None = None):
        parts = urlsplit(endpoint)
        # Certificate and host name are always verified over https: against ca_file (a private
        # CA, RECSTORE_S3_CA_FILE) or the system's CAs.
        tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED",
                               "ssl_minimum_version": ssl.TLSVersion.TLSv1_2}
        if ca_file is not None:
            tls["ca_certs"] = str(ca_file)
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=60),
            retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            maxsize=32,  # 8 downloads + 8 uploads at once, each holding one connection
            **tls,
        )
        self._client = _PayloadClient(
            parts.netloc,
            access_key=access_key,
            secret_key=secret_key,
            secure=parts.scheme == "https",
            region=region,
            http_client=http,
        )
        self._client.unsigned_payloads = (parts.scheme == "https"
                                          or _is_loopback(parts.hostname or ""))
        self._bodies = ObjectHTTP(self._client, bucket,
                                  ssl_context=ssl_context_for(tls)
                                  if parts.scheme == "https" else None)
        # Readiness probes get their own short-timeout, no-retry client: a stalled server
        # must not hold a probe (or a worker thread) for the data path's minute.
        self._probe_http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=PROBE_TIMEOUT, read=PROBE_TIMEOUT), retries=False,
            maxsize=2, **tls)
        self._probe_client = Minio(parts.netloc, access_key=access_key, secret_key=secret_key,
                                   secure=parts.scheme == "https", region=region,
                                   http_client=self._probe_http)
        self._probing: asyncio.Future[None] | None = None
        # GetBucketLocation runs at start-up: bounded (no retries, 10 s), so that a process
        # starting against a stalled store fails soon, and a SIGTERM meanwhile is not held
        # up by a worker thread waiting out the data path's minute, four times over.
        self._startup_client = Minio(
            parts.netloc, access_key=access_key, secret_key=secret_key,
            secure=parts.scheme == "https", region=region,
            http_client=urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=10),
                                            retries=False, maxsize=1, **tls))
        self.bucket = bucket
        self.region = region

    async def close(self) -> None:
        await self._bodies.close()

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
            response = self._startup_client._url_open(
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

    async def put_stream(self, key: str, pieces: AsyncIterable[bytes],
                         size: int | None = None) -> StoredObject:
        """Upload pieces as one object, holding a few parts in memory.

        With its `size` known, and a store that takes unsigned payloads, the object streams
        up in one PUT from the loop, holding no part at all (no object appears unless every
        byte arrived). Otherwise bodies under a part go up in one PUT; larger ones as a
        multipart upload whose parts are sent as they fill, up to PARTS_IN_FLIGHT
        uploading while the next fills. Each
        part is joined from its pieces once, the only copy. If `pieces` raises, a started
        upload is aborted, so no partial object ever appears. (minio's streaming put_object
        copies each part twice and uploads one at a time, hence its multipart primitives.)
        """
        if size is not None and self._client.unsigned_payloads:
            await self._bodies.put(key, size, pieces)
            return StoredObject(key, size)
        client = self._client
        filling: list[bytes] = []
        filled = 0
        parts: list[Part] = []
        in_flight: deque[asyncio.Task[Part]] = deque()
        upload_id: str | None = None
        size = 0
        try:
            async for piece in pieces:
                filling.append(piece)
                filled += len(piece)
                size += len(piece)
                if filled >= PART_SIZE:
                    if upload_id is None:
                        upload_id = await self._run(
                            "put", client._create_multipart_upload, self.bucket, key, {})
                    if len(in_flight) >= PARTS_IN_FLIGHT:
                        parts.append(await in_flight.popleft())
                    data = await asyncio.to_thread(b"".join, filling)  # 8 MiB: off the loop
                    filling, filled = [], 0
                    number = len(parts) + len(in_flight) + 1
                    in_flight.append(asyncio.create_task(
                        self._upload_part(key, upload_id, number, data)))
                    del data
            if upload_id is None:
                await self._run("put", client._put_object, self.bucket, key, b"".join(filling))
            else:
                if filling:
                    number = len(parts) + len(in_flight) + 1
                    in_flight.append(asyncio.create_task(
                        self._upload_part(key, upload_id, number, b"".join(filling))))
                    filling = []
                while in_flight:
                    parts.append(await in_flight.popleft())
                await self._run("put", client._complete_multipart_upload, self.bucket, key,
                                upload_id, parts)
        except BaseException:
            for task in in_flight:
                task.cancel()
            for task in in_flight:
                with contextlib.suppress(BaseException):
                    await task
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    await self._run("abort", client._abort_multipart_upload, self.bucket, key,
                                    upload_id)
            raise
        return StoredObject(key, size)

    async def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> Part:
        etag = await self._run("put", self._client._upload_part, self.bucket, key, data,
                               None, upload_id, number)
        return Part(number, etag)

    async def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (fewer where the object ends first)."""
        data: bytes = await asyncio.to_thread(self._bodies.get, key, offset, length)
        return data

    def open_read(self, key: str, offset: int, length: int,
                  window: int | None = None) -> ObjectReader:
        """A reader of [offset, offset+length), one ranged GET per `window` bytes (default
        READ_WINDOW); its reads block, so call them from a thread."""
        return ObjectReader(self._bodies, key, offset, length, window or READ_WINDOW)

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

    async def iter_pages(self, prefix: str,
                         page_size: int = LIST_PAGE_SIZE) -> AsyncIterator[list[ListedObject]]:
        """The objects under `prefix` in S3's key order (UTF-8 bytes), one LIST request and
        one page in memory at a time."""
        def page(after: str | None) -> list[ListedObject]:
            listing = self._client.list_objects(self.bucket, prefix=prefix, recursive=True,
                                                start_after=after)
            return [ListedObject(o.object_name, o.last_modified)
                    for o in itertools.islice(listing, page_size) if o.object_name is not None]

        after: str | None = None
        while True:
            objects: list[ListedObject] = await self._run("list", page, after)
            if not objects:
                return
            yield objects
            if len(objects) < page_size:
                return
            after = objects[-1].key

    async def never_versioned(self) -> bool:
        config = await self._run("versioning check", self._client.get_bucket_versioning,
                                 self.bucket)
        return config.status in (None, "Off")  # SeaweedFS reports no status at all

    async def delete_unversioned(self, keys: Sequence[str]) -> dict[str, str]:
        """Delete keys of a never-versioned bucket (one object per key) in as few requests
        as S3 allows (minio sends up to 1000 per request); returns the keys that failed,
        each with its error code. Absent keys count as deleted. Where versioning is or was
        on, every version has to go, which `delete` does key by key."""
        def remove() -> dict[str, str]:
            errors = self._client.remove_objects(self.bucket, [DeleteObject(k) for k in keys])
            return {error.name: f"delete failed: {error.code}" for error in errors
                    if error.name is not None and error.code != "NoSuchKey"}

        failed: dict[str, str] = await self._run("delete", remove)
        return failed

    async def list_keys(self, prefix: str = "") -> list[str]:
        def collect() -> list[str]:
            return [o.object_name for o in
                    self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                    if o.object_name is not None]

        keys: list[str] = await self._run("list", collect)
        return keys

    async def abort_incomplete(self, key: str) -> int:
        """Abort the multipart uploads of `key` still open: put_stream's own abort fails when
        the store does, and their parts would stay, unlisted, using space. Returns how many."""
        def abort() -> int:
            listed = self._client._list_multipart_uploads(self.bucket, prefix=key)
            open_ids = [u.upload_id for u in listed.uploads
                        if u.object_name == key and u.upload_id]
            for upload_id in open_ids:
                self._client._abort_multipart_upload(self.bucket, key, upload_id)
            return len(open_ids)

        aborted: int = await self._run("abort", abort)
        return aborted

    async def ping(self, wait_seconds: float | None = None) -> None:
        """One bucket check at a time however many callers probe (each stalled probe would
        hold a worker thread); callers stop waiting after `wait_seconds`."""
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(
                self._run("ping", self._probe_client.bucket_exists, self.bucket))
            # Retrieved here, so that a probe every caller gave up on logs nothing.
            self._probing.add_done_callback(lambda f: f.cancelled() or f.exception())
        await asyncio.wait_for(asyncio.shield(self._probing), wait_seconds)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _PayloadClient(Minio):
    """minio, without hashing object bodies where that proves nothing.

    For SigV4, minio hashes every body: SHA-256 over http, MD5 over https. Our bodies are
    AEAD ciphertext, and over TLS every record is already MACed in transit, as nothing
    crosses a wire on loopback: there, object bodies are signed as UNSIGNED-PAYLOAD (which
    S3, MinIO and SeaweedFS accept) and the hash is skipped. A body that S3 requires a
    Content-MD5 for (the XML of multi-delete, lifecycle) passes one and keeps it; over plain
    http to another host the SHA-256 stays, computed in the part's worker thread.
    """

    unsigned_payloads = False

    def _build_headers(self, host: str, headers: Any = None, body: bytes | None = None,
                       creds: Any = None) -> Any:
        if (not self.unsigned_payloads or not body or creds is None
                or (headers or {}).get("Content-MD5")):
            return super()._build_headers(host, headers, body, creds)
        built, date = super()._build_headers(host, headers, None, creds)
        built["Content-Length"] = str(len(body))
        built["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        built.pop("Content-MD5", None)
        return built, date
