"""asyncpg pool and the versioned SQL migration runner."""

from __future__ import annotations

import re
from importlib import resources
from typing import TypeAlias

import asyncpg

MIGRATIONS_PACKAGE = "recstore.migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every recstore process.
_MIGRATION_LOCK_ID = 7_310_042_001

Pool: TypeAlias = asyncpg.Pool
Connection: TypeAlias = asyncpg.Connection

# What a database that is restarting, shutting down or unreachable raises. Such a request
# can succeed when retried, so it is answered 503 with Retry-After, never 500.
_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,       # connection lost, refused or failed mid-query
    asyncpg.CannotConnectNowError,         # 57P03: starting up or shutting down
    asyncpg.AdminShutdownError,            # 57P01: the server was told to stop
    asyncpg.CrashShutdownError,            # 57P02
    asyncpg.TooManyConnectionsError,
    OSError,                               # socket refused or gone (ConnectionError et al.)
    TimeoutError,                          # connect, acquire or command timeout
    # Releasing a connection that PostgreSQL's shutdown cut mid-query: "cannot switch to
    # state 15; another operation is in progress" (seen in the fault campaign).
    asyncpg.InternalClientError,
)


def is_database_outage(exc: BaseException) -> bool:
    if isinstance(exc, _OUTAGE_ERRORS):
        return True
    # asyncpg raises InterfaceError for a pooled connection that died under it.
    return isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc)


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, command_timeout=60)
    assert pool is not None
    return pool


def available_migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped with the package, in order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError("two migrations share a version number")
    return found


async def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; returns the names applied.

    An advisory lock makes concurrent start-ups (several workers) apply each file once.
    """
    applied_names: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
    try:
        # Inside the lock: concurrent CREATE TABLE IF NOT EXISTS can still collide.
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in available_migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied_names.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    return applied_names


async def connects_as_owner(conn: Connection) -> bool:
    """True when this session could rewrite the audit log: a superuser, or a member of the
    role that owns it (migration 0006: the service must connect as the app role)."""
    privileged: bool = await conn.fetchval(
        "SELECT r.rolsuper OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = 'audit_log'"
        " AND c.relkind = 'r' AND pg_has_role(current_user, c.relowner, 'USAGE'))"
        " FROM pg_roles r WHERE r.rolname = current_user")
    return privileged
