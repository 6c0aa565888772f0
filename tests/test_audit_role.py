"""The application's database role can read and append the audit log, never change it, and
cannot switch the append-only trigger off either."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from recstore import audit
from recstore.services import Services


async def test_recstore_app_appends_but_cannot_rewrite_the_log(services: Services) -> None:
    customer = uuid.uuid4()
    async with services.pool.acquire() as conn:
        await audit.append(conn, customer, actor_type="system", actor_id=None, action="before")
        await conn.execute("SET ROLE recstore_app")
        try:
            await audit.append(conn, customer, actor_type="system", actor_id=None,
                               action="as.app")
            assert (await audit.verify_chain(conn, customer)).entries == 2
            for statement in ("UPDATE audit_log SET action = 'forged'",
                              "DELETE FROM audit_log", "TRUNCATE audit_log"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.execute(statement)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(
                    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
            # The rest of the schema stays writable for the service.
            await conn.execute("UPDATE grants SET purpose = purpose")
            await conn.execute("DELETE FROM notifications")
        finally:
            await conn.execute("RESET ROLE")
        assert await audit.verify_chain(conn, customer) == audit.ChainCheck(2, None)


async def test_public_has_no_update_or_delete_on_the_log(services: Services) -> None:
    granted = await services.pool.fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE table_name = 'audit_log' AND grantee IN ('PUBLIC', 'recstore_app')")
    assert {row["privilege_type"] for row in granted} == {"SELECT", "INSERT"}
