"""Migrations apply once, concurrently safe; the audit log is append-only and chained."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from recstore import audit
from recstore.db import available_migrations, migrate
from recstore.services import Services


async def test_migrations_are_recorded_and_not_reapplied(admin_database_url: str) -> None:
    conn = await asyncpg.connect(admin_database_url)
    try:
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == [v for v, _, _ in available_migrations()]
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_concurrent_migrate_applies_each_file_once(stack: Any) -> None:
    name = f"m_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = stack.database_url.partition("?")
    dsn = f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    conns = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in conns))
        applied = [names for names in results if names]
        assert len(applied) == 1 and len(applied[0]) == len(available_migrations())
    finally:
        for c in conns:
            await c.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_audit_log_rejects_update_and_delete(services: Services) -> None:
    """The trigger holds even for the owner (the app role is refused earlier: test_audit_role)."""
    customer = uuid.uuid4()
    conn = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await audit.append(conn, customer, actor_type="system", actor_id=None, action="test")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE audit_log SET action = 'edited'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM audit_log")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("TRUNCATE audit_log")
    finally:
        await conn.close()


async def test_audit_chain_verifies_and_detects_an_edit(services: Services) -> None:
    customer = uuid.uuid4()
    async with services.pool.acquire() as conn:
        for i in range(5):
            await audit.append(conn, customer, actor_type="customer", actor_id=uuid.uuid4(),
                               action=f"action.{i}")
        assert await audit.verify_chain(conn, customer) == audit.ChainCheck(5, None)
    # The owner can switch the trigger off; the chain still shows the edit.
    owner = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await owner.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        await owner.execute("UPDATE audit_log SET action = 'forged' WHERE seq = 3")
        await owner.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete")
        assert (await audit.verify_chain(owner, customer)).first_broken_seq == 3
    finally:
        await owner.close()


async def test_concurrent_appends_keep_one_chain(services: Services) -> None:
    customer = uuid.uuid4()

    async def one(i: int) -> None:
        async with services.pool.acquire() as conn:
            await audit.append(conn, customer, actor_type="system", actor_id=None,
                               action=f"parallel.{i}")

    await asyncio.gather(*(one(i) for i in range(20)))
    async with services.pool.acquire() as conn:
        assert await audit.verify_chain(conn, customer) == audit.ChainCheck(20, None)
