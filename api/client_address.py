"""The client's address: the TCP peer, or, when that peer is a trusted reverse proxy
(RECSTORE_TRUSTED_PROXIES), the address that proxy saw, from X-Forwarded-For.

X-Forwarded-For is read from the right: each trusted proxy appends the address it was
reached from, so the first address from the right that is not a trusted proxy is the
client. A header from anyone else is ignored (anyone can send one), and a malformed entry
stops the walk at the last address a trusted proxy vouched for.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from aiohttp import web

from recstore.appkeys import services_key

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """Parsed once per distinct setting; a bad entry is a start-up error (Settings checks)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False)
                 for part in setting.split(",") if part.strip())


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve(peer: str | None, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    client = _address(peer or "")
    if client is None:
        return "unknown"
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while any(client in network for network in trusted) and hops:
        previous = _address(hops.pop())
        if previous is None:
            break
        client = previous
    return str(client)


def client_address(request: web.Request) -> str:
    setting = request.app[services_key].settings.trusted_proxies
    return resolve(request.remote, request.headers.getall("X-Forwarded-For", []),
                   trusted_networks(setting))
