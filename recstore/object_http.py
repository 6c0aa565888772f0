"""Object bodies without minio in the way: GETs read straight into the caller's buffers,
PUTs of a known size stream from the event loop.

minio's reads copy each body twice and zero a buffer for it, all with the GIL held, which
is what a decrypting download pays for (docs/BENCHMARKS.md). Here GETs are presigned by the
minio client (a local HMAC, no round trip) and sent with the standard library's
http.client from a worker thread, `readinto` a piece-sized buffer that decryption reads in
place. PUTs whose size is known stream from the loop over aiohttp, without holding a part;
their presigned requests carry UNSIGNED-PAYLOAD, so they are used only where the store
allows that (TLS, or loopback; see ObjectStore).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ssl
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree

import aiohttp
from minio import Minio
from yarl import URL

SIGNED_FOR = timedelta(minutes=5)  # only ever used at once, by this process
OPEN_ATTEMPTS = 3
RETRY_STATUS = frozenset({500, 502, 503, 504})


class ObjectStoreError(Exception):
    """The object store failed; the message names the operation, never a key's owner."""


def _code_of(body: bytes) -> str | None:
    try:
        code = ElementTree.fromstring(body).findtext("Code")  # noqa: S314 - our own store
    except ElementTree.ParseError:
        return None
    return code or None


class ObjectHTTP:
    """Object bodies of one bucket: blocking GETs over a pool of http.client connections,
    streaming PUTs over one aiohttp session per event loop."""

    def __init__(self, client: Minio, bucket: str, *, ssl_context: ssl.SSLContext | None,
                 read_timeout: float = 60.0) -> None:
        self._client, self._bucket, self._ssl = client, bucket, ssl_context
        self._timeout = aiohttp.ClientTimeout(total=None, connect=5, sock_read=read_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        endpoint = urlsplit(client._base_url._url.geturl())
        self.pool = ConnectionPool(endpoint.scheme, endpoint.netloc, ssl_context, read_timeout)

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=64, ssl=self._ssl if self._ssl else False)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"))
            self._loop = loop
        return self._session

    async def close(self) -> None:
        self.pool.close()
        if self._session is not None and not self._session.closed:
            with contextlib.suppress(RuntimeError):  # its loop is already gone
                await self._session.close()
        self._session = None

    def _presigned(self, method: str, key: str) -> str:
        url: str = self._client.get_presigned_url(method, self._bucket, key, expires=SIGNED_FOR)
        return url

    def open_get(self, key: str, offset: int, length: int
                 ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A connection and its response streaming bytes [offset, offset+length). Blocking.
        Retried while nothing has been read (a 5xx, a refused or stale connection)."""
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        for attempt in range(OPEN_ATTEMPTS):
            connection = self.pool.take()
            try:
                url = urlsplit(self._presigned("GET", key))
                connection.request("GET", f"{url.path}?{url.query}",
                                   headers={**headers, "Host": url.netloc})
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                if attempt + 1 == OPEN_ATTEMPTS:
                    raise ObjectStoreError(f"get failed: {type(exc).__name__}") from None
            else:
                if response.status == 206 or (response.status == 200 and not offset):
                    return connection, response
                body = response.read() if response.status != 200 else b""
                connection.close()
                if response.status not in RETRY_STATUS or attempt + 1 == OPEN_ATTEMPTS:
                    raise ObjectStoreError(f"get failed: {_code_of(body) or response.status}")
            time.sleep(0.2 * 2 ** attempt)
        raise AssertionError("unreachable")

    def get(self, key: str, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset`, fewer where the object ends. Blocking."""
        connection, response = self.open_get(key, offset, length)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise ObjectStoreError(f"get failed: {type(exc).__name__}") from None
        self.pool.give(connection)
        return data

    async def put(self, key: str, size: int, pieces: AsyncIterable[bytes]) -> None:
        """One PUT of exactly `size` bytes streamed from `pieces`. If `pieces` raises (its
        exception is raised here) or yields another length, the request is cut before its
        last byte, and S3 stores nothing."""
        sent = 0
        failure: BaseException | None = None

        async def counted() -> AsyncIterator[bytes]:
            nonlocal sent, failure
            try:
                async for piece in pieces:
                    sent += len(piece)
                    if sent > size:
                        raise ObjectStoreError("put failed: body longer than declared")
                    yield piece
                if sent != size:
                    raise ObjectStoreError("put failed: body shorter than declared")
            except BaseException as exc:
                failure = exc
                raise

        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            url = URL(self._presigned("PUT", key), encoded=True)  # re-quoting breaks signatures
            async with self._session_here().put(url, data=counted(),
                                                headers=headers) as response:
                if response.status != 200:
                    body = await response.read()
                    raise ObjectStoreError(f"put failed: {_code_of(body) or response.status}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            # aiohttp's messages name the URL, which holds the key and a signature.
            if failure is not None:
                raise failure from None
            raise ObjectStoreError(f"put failed: {type(exc).__name__}") from None


class ConnectionPool:
    """Idle keep-alive connections to the store, shared by the reading threads."""

    def __init__(self, scheme: str, netloc: str, ssl_context: ssl.SSLContext | None,
                 timeout: float, size: int = 32) -> None:
        self._scheme, self._netloc, self._ssl = scheme, netloc, ssl_context
        self._timeout, self._size = timeout, size
        self._idle: deque[http.client.HTTPConnection] = deque()

    def take(self) -> http.client.HTTPConnection:
        with contextlib.suppress(IndexError):
            return self._idle.pop()
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._netloc, timeout=self._timeout,
                                               context=self._ssl)
        return http.client.HTTPConnection(self._netloc, timeout=self._timeout)

    def give(self, connection: http.client.HTTPConnection) -> None:
        if len(self._idle) < self._size:
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class ObjectReader:
    """Sequential reads of one byte range, one GET per window. Blocking: call from a thread.

    A window bounds how long one S3 response stays open behind a slow client, and a
    deleted object fails at the next window at the latest. A window cut short by a network
    error is resumed once from where it broke, so a paused player whose idle connection the
    store dropped still gets the rest.
    """

    def __init__(self, bodies: ObjectHTTP, key: str, offset: int, length: int,
                 window: int) -> None:
        self._bodies, self._key, self._window = bodies, key, window
        self._offset, self._end = offset, offset + length
        self._connection: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None
        self._window_end = offset

    @property
    def remaining(self) -> int:
        return self._end - self._offset

    def read(self, size: int) -> bytearray:
        """Exactly min(size, remaining) bytes, read straight into the buffer returned;
        ObjectStoreError if the object ends early."""
        data = bytearray(min(size, self.remaining))
        view = memoryview(data)
        filled, resume = 0, True
        try:
            while filled < len(view):
                if self._response is None or self._offset >= self._window_end:
                    self._open()
                assert self._response is not None
                take = min(len(view) - filled, self._window_end - self._offset)
                try:
                    got = self._response.readinto(view[filled:filled + take])
                except (OSError, http.client.HTTPException):
                    got = 0
                if not got:
                    if not resume:
                        raise ObjectStoreError("get failed: object shorter than expected")
                    resume = False
                    self.close()
                    continue
                filled += got
                self._offset += got
        except BaseException:
            self.close()
            raise
        return data

    def _open(self) -> None:
        self.close()
        self._window_end = min(self._offset + self._window, self._end)
        self._connection, self._response = self._bodies.open_get(
            self._key, self._offset, self._window_end - self._offset)

    def close(self) -> None:
        if self._response is not None and self._connection is not None:
            connection, self._connection, self._response = self._connection, None, None
            if self._offset < self._window_end:
                connection.close()  # unread bytes: this connection cannot be reused
            else:
                self._bodies.pool.give(connection)


def ssl_context_for(tls: dict[str, Any]) -> ssl.SSLContext:
    """The same verification as the minio client's urllib3 pool (CERT_REQUIRED, TLS 1.2+)."""
    context = ssl.create_default_context(cafile=tls.get("ca_certs"))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context
