"""Fetching from providers without becoming an SSRF proxy.

Only the provider's origins are fetched (its real API hosts, or the one `--api-base` the
customer configured). Every name is resolved by `GuardedResolver`, which refuses loopback,
private, link-local (cloud metadata), multicast, unspecified and reserved addresses, and
aiohttp connects to exactly the addresses it returned, so DNS rebinding cannot swap them.
IP literals never reach a resolver, so `FetchPolicy.check` refuses them itself, unless
the configured base names that very address. Redirects are followed by hand: same host
only (http to https allowed), a few hops, each one checked again.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from ingest.errors import FetchRefused, IngestFailure, http_failure

MAX_REDIRECTS = 3
MAX_JSON_BYTES = 1024 * 1024
PIECE = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORT = {"http": 80, "https": 443}
_NOT_AUDIO_TYPES = frozenset({"text", "image", "video", "multipart", "font", "model", "message"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    path_prefix: str

    @classmethod
    def parse(cls, text: str) -> Origin:
        url = URL(text)
        if url.scheme not in _DEFAULT_PORT or not url.host:
            raise ValueError("an origin is an http(s) URL")
        prefix = url.path if url.path.endswith("/") else url.path + "/"
        return cls(url.scheme, url.host.lower().rstrip("."), url.port or 0, prefix)

    def admits(self, url: URL) -> bool:
        host = (url.host or "").lower().rstrip(".")
        return (url.scheme == self.scheme and host == self.host and url.port == self.port
                and (url.path + "/").startswith(self.path_prefix))


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback
                                 or ip.is_link_local or ip.is_reserved or ip.is_unspecified)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class FetchPolicy:
    origins: tuple[Origin, ...]
    explicit_addresses: frozenset[IPAddress]

    @classmethod
    def for_provider(cls, defaults: tuple[str, ...], api_base: str | None) -> FetchPolicy:
        """The provider's real origins, or only `api_base` when the customer configured one;
        an address is exempt from the address checks only when `api_base` names it literally."""
        if api_base is None:
            return cls(tuple(Origin.parse(o) for o in defaults), frozenset())
        origin = Origin.parse(api_base)
        literal = _ip_literal(origin.host)
        return cls((origin,), frozenset({literal}) if literal is not None else frozenset())

    def address_allowed(self, ip: IPAddress) -> bool:
        return ip in self.explicit_addresses or is_public_address(ip)

    def check(self, url: URL) -> URL:
        """The URL to request (http upgraded to https where the origin is https), or refuse."""
        if url.scheme not in _DEFAULT_PORT or not url.host or url.user or url.password:
            raise FetchRefused("the media URL is not a plain http(s) URL")
        if url.scheme == "http" and url.explicit_port in (None, 80):
            upgraded = url.with_port(None).with_scheme("https")
            if any(o.admits(upgraded) for o in self.origins):
                url = upgraded
        if not any(o.admits(url) for o in self.origins):
            raise FetchRefused("the URL is outside the provider's allowed hosts")
        literal = _ip_literal(url.host or "")
        if literal is not None and not self.address_allowed(literal):
            raise FetchRefused("the URL points at a refused address")
        return url


class GuardedResolver(AbstractResolver):
    """Resolves, then refuses the whole name if any address it has is refused."""

    def __init__(self, policy: FetchPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if not self._policy.address_allowed(ipaddress.ip_address(result["host"])):
                raise FetchRefused("the provider host resolves to a refused address")
        return results

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    connect_seconds: float = 10.0
    read_seconds: float = 30.0
    deadline_seconds: float = 1800.0


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _refuse_non_audio(content_type: str) -> None:
    main, _, sub = content_type.lower().partition("/")
    if main in _NOT_AUDIO_TYPES or sub.endswith(("json", "xml", "html")):
        raise IngestFailure(f"the provider sent {content_type[:60]}, not audio", retryable=False)


class Fetcher:
    """One per job: its session resolves through that job's policy only."""

    def __init__(self, policy: FetchPolicy, limits: FetchLimits,
                 resolver: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.limits = limits
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy, self._resolver), use_dns_cache=False,
            limit=4)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.limits.connect_seconds,
                                        sock_read=self.limits.read_seconds)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout,
                                              trust_env=False)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, url: str, *,
                       headers: Mapping[str, str] | None) -> aiohttp.ClientResponse:
        assert self._session is not None, "use Fetcher as an async context manager"
        current = self.policy.check(URL(url))
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = await self._session.request(method, current, headers=headers,
                                                       allow_redirects=False)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise IngestFailure(f"could not reach the provider ({type(exc).__name__})",
                                    retryable=True) from None
            if response.status not in _REDIRECTS:
                return response
            location = response.headers.get("Location", "")
            response.release()
            target = current.join(URL(location))
            if (target.host or "").lower() != (current.host or "").lower() or (
                    target.scheme != current.scheme and target.scheme != "https"):
                raise FetchRefused("the provider redirected to another host")
            current = self.policy.check(target)
        raise FetchRefused("the provider redirected too many times")

    async def json(self, url: str, *, headers: Mapping[str, str] | None = None,
                   what: str = "resource") -> Any:
        response = await self._request("GET", url,
                                       headers={"Accept": "application/json", **(headers or {})})
        async with response:
            if response.status != 200:
                raise http_failure(f"fetching the {what}", response.status)
            try:
                raw = await response.content.read(MAX_JSON_BYTES + 1)
                document = json.loads(raw) if len(raw) <= MAX_JSON_BYTES else None
            except (aiohttp.ClientError, TimeoutError, ValueError):
                raise IngestFailure(f"the {what} could not be read", retryable=True) from None
        if not isinstance(document, dict):
            raise IngestFailure(f"the {what} is not a JSON object", retryable=False)
        return document

    async def delete(self, url: str, *, headers: Mapping[str, str] | None = None) -> int:
        response = await self._request("DELETE", url, headers=headers)
        response.release()
        return response.status

    async def stream(self, url: str, *, headers: Mapping[str, str] | None = None
                     ) -> AsyncGenerator[bytes, None]:
        """The audio, piece by piece; nothing is requested until the first piece is wanted."""
        deadline = time.monotonic() + self.limits.deadline_seconds
        response = await self._request("GET", url, headers=headers)
        async with response:
            if response.status != 200:
                raise http_failure("fetching the audio", response.status)
            _refuse_non_audio(response.content_type)
            length = response.content_length
            if length is not None and length > self.limits.max_bytes:
                raise IngestFailure(f"the audio is over the {self.limits.max_bytes}-byte limit",
                                    retryable=False)
            seen = 0
            while True:
                try:
                    piece = await response.content.read(PIECE)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise IngestFailure(f"the audio download broke off ({type(exc).__name__})",
                                        retryable=True) from None
                if not piece:
                    return
                seen += len(piece)
                if seen > self.limits.max_bytes:
                    raise IngestFailure(
                        f"the audio is over the {self.limits.max_bytes}-byte limit",
                        retryable=False)
                if time.monotonic() > deadline:
                    raise IngestFailure("the audio download took too long", retryable=True)
                yield piece
