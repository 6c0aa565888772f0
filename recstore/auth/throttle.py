"""Login throttling per account, per client address and per IPv6 /64, shared by every API
process (the API's login and the portal's sign-in).

Attempts are counted in PostgreSQL before the password is checked (one row lock per
bucket serialises concurrent guesses), so a burst of parallel requests cannot slip past
the limit. Past a number of free attempts each further one locks the bucket for an
exponentially growing time; while locked, login answers 429 with Retry-After, whatever
the password. Buckets are keyed hashes: no email or address is stored.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from recstore.db import Connection
from recstore.errors import TooManyRequests
from recstore.keys import KeyService

_SECRET_NAME = "login-throttle"  # noqa: S105 - the name of a secret, not one


@dataclass(frozen=True)
class Policy:
    free_attempts: int
    max_lock_seconds: int
    forget_after: timedelta  # a quiet bucket starts from zero again


# One office behind one address shares the client bucket, hence its larger allowance.
ACCOUNT = Policy(free_attempts=5, max_lock_seconds=900, forget_after=timedelta(hours=1))
CLIENT = Policy(free_attempts=30, max_lock_seconds=900, forget_after=timedelta(hours=1))


@dataclass(frozen=True)
class Buckets:
    account: bytes
    client: bytes
    network: bytes | None  # the client's IPv6 /64: one host gets a whole /64 to rotate through
    email_tag: str  # for logs: keyed, so a guessed address cannot be confirmed from them


async def _throttle_key(conn: Connection, keys: KeyService) -> bytes:
    """A service-wide secret, created once by whichever process needs it first."""
    aad = f"recstore service secret {_SECRET_NAME}".encode()
    await conn.execute(
        "INSERT INTO service_secrets (name, wrapped) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        _SECRET_NAME, keys.keyring.wrap(secrets.token_bytes(32), aad=aad))
    wrapped = await conn.fetchval("SELECT wrapped FROM service_secrets WHERE name = $1",
                                  _SECRET_NAME)
    return keys.keyring.unwrap(bytes(wrapped), aad=aad)


def _bucket(key: bytes, kind: bytes, value: str) -> bytes:
    return hashlib.blake2b(value.encode(), key=key, person=kind, digest_size=16).digest()


async def buckets_for(conn: Connection, keys: KeyService, email: str, client: str) -> Buckets:
    key = await _throttle_key(conn, keys)
    address = email.strip().lower()
    network = ipv6_network(client)
    return Buckets(_bucket(key, b"account", address), _bucket(key, b"client", client),
                   _bucket(key, b"network", network) if network else None,
                   _bucket(key, b"log-email", address)[:6].hex())


def ipv6_network(client: str) -> str | None:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return None
    if not isinstance(address, ipaddress.IPv6Address) or address.ipv4_mapped is not None:
        return None
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def lock_seconds(attempts: int, policy: Policy) -> int:
    """0 up to the free attempts, then 1, 2, 4, ... seconds, capped."""
    over = attempts - policy.free_attempts
    if over < 0:
        return 0
    return min(1 << min(over, 30), policy.max_lock_seconds)


async def _reserve_one(conn: Connection, bucket: bytes, policy: Policy, now: datetime) -> int:
    """Count one attempt unless locked; returns the seconds still locked (0: go ahead)."""
    row = await conn.fetchrow(
        "INSERT INTO login_throttle AS t (key, attempts, last_attempt_at) VALUES ($1, 0, $2)"
        " ON CONFLICT (key) DO UPDATE SET key = t.key"
        " RETURNING attempts, last_attempt_at, locked_until", bucket, now)
    assert row is not None
    locked_until: datetime | None = row["locked_until"]
    if locked_until is not None and locked_until > now:
        return max(1, math.ceil((locked_until - now).total_seconds()))
    attempts: int = row["attempts"] + 1
    if row["last_attempt_at"] < now - policy.forget_after:
        attempts = 1
    locked = lock_seconds(attempts, policy)
    await conn.execute(
        "UPDATE login_throttle SET attempts = $2, last_attempt_at = $3, locked_until = $4"
        " WHERE key = $1", bucket, attempts, now,
        now + timedelta(seconds=locked) if locked else None)
    return 0


async def reserve(conn: Connection, buckets: Buckets, now: datetime) -> None:
    """Count this attempt in both buckets, or raise TooManyRequests while one is locked."""
    async with conn.transaction():
        # Fixed order (account, client, network) so concurrent logins cannot deadlock.
        waits = [await _reserve_one(conn, buckets.account, ACCOUNT, now),
                 await _reserve_one(conn, buckets.client, CLIENT, now)]
        if buckets.network is not None:
            waits.append(await _reserve_one(conn, buckets.network, CLIENT, now))
    await conn.execute(
        "DELETE FROM login_throttle WHERE key IN (SELECT key FROM login_throttle"
        " WHERE last_attempt_at < $1 AND (locked_until IS NULL OR locked_until < $2)"
        " LIMIT 100)", now - max(ACCOUNT.forget_after, CLIENT.forget_after), now)
    if max(waits):
        raise TooManyRequests(max(waits), "too many login attempts; try again later")


async def succeeded(conn: Connection, buckets: Buckets, now: datetime) -> None:
    """A right password clears its account and gives its client attempt back."""
    async with conn.transaction():
        await conn.execute("DELETE FROM login_throttle WHERE key = $1", buckets.account)
        await conn.execute(
            "UPDATE login_throttle SET attempts = greatest(attempts - 1, 0) WHERE key = ANY($1)",
            [b for b in (buckets.client, buckets.network) if b is not None])
