"""The app role the service connects as (RECSTORE_DATABASE_URL) can read and append the audit
log and nothing more there, and can change no part of the schema: tried as that role, the way
a compromised `serve` process would."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from recstore import audit
from recstore.db import connects_as_owner
from recstore.devstack.stack import APP_ROLE
from recstore.services import Services

# Each must fail for the app role; the owner could run every one of them.
FORBIDDEN = [
    "UPDATE audit_log SET action = 'forged'",
    "DELETE FROM audit_log",
    "TRUNCATE audit_log",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete",
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "DROP TRIGGER audit_log_no_update_delete ON audit_log",
    "CREATE OR REPLACE FUNCTION audit_log_is_append_only() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    "ALTER FUNCTION audit_log_is_append_only() RENAME TO gone",
    "ALTER TABLE audit_log RENAME TO audit_log_old",
    "ALTER TABLE recordings ADD COLUMN leak text",
    "ALTER TABLE recordings DROP COLUMN sha256",
    "DROP TABLE audit_log",
    "DROP TABLE recordings",
    "CREATE TABLE shadow (x int)",
    "CREATE TEMP TABLE shadow (x int)",
    "CREATE SCHEMA shadow",
    "CREATE INDEX ON audit_log (action)",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE VIEW v AS SELECT 1",
    "COMMENT ON TABLE audit_log IS 'x'",
    "GRANT postgres TO recstore_service",
    "GRANT UPDATE ON audit_log TO PUBLIC; UPDATE audit_log SET action = 'forged'",
    "INSERT INTO schema_migrations (version, name) VALUES (9999, 'forged')",
    "DELETE FROM schema_migrations",
    "SET session_replication_role = replica",
    "CREATE ROLE intruder SUPERUSER",
    "CREATE DATABASE shadow",
    "SET ROLE postgres",
]


async def test_the_service_pool_is_the_least_privileged_app_role(services: Services) -> None:
    row = await services.pool.fetchrow(
        "SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls"
        " FROM pg_roles WHERE rolname = current_user")
    assert row["name"] == APP_ROLE
    assert not any(row[k] for k in ("rolsuper", "rolcreaterole", "rolcreatedb", "rolbypassrls"))
    owned = await services.pool.fetchval(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')")
    assert owned == 0


@pytest.mark.parametrize("statement", FORBIDDEN)
async def test_the_app_role_cannot(services: Services, statement: str) -> None:
    async with services.pool.acquire() as conn:
        # Refused for lack of privilege, not by accident (a typo would be a syntax error).
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)


async def test_the_app_role_appends_and_reads_but_the_owner_can_cut_the_head(
        services: Services) -> None:
    customer = uuid.uuid4()
    async with services.pool.acquire() as conn:
        for action in ("one", "two"):
            await audit.append(conn, customer, actor_type="system", actor_id=None, action=action)
        assert await audit.verify_chain(conn, customer) == audit.ChainCheck(2, None)
        # The rest of the schema stays writable for the service.
        await conn.execute("UPDATE grants SET purpose = purpose")
        await conn.execute("DELETE FROM notifications")
    owner = await asyncpg.connect(services.settings.migration_database_url())
    try:
        await owner.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
        await owner.execute("DELETE FROM audit_log WHERE customer_id = $1 AND seq = 2", customer)
        await owner.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete")
    finally:
        await owner.close()
    # The chain alone cannot see a cut head: that is what signed checkpoints are for.
    async with services.pool.acquire() as conn:
        assert await audit.verify_chain(conn, customer) == audit.ChainCheck(1, None)


async def test_public_has_no_update_or_delete_on_the_log(services: Services) -> None:
    granted = await services.pool.fetch(
        "SELECT privilege_type FROM information_schema.role_table_grants"
        " WHERE table_name = 'audit_log' AND grantee IN ('PUBLIC', 'recstore_app')")
    assert {row["privilege_type"] for row in granted} == {"SELECT", "INSERT"}


async def test_start_up_tells_the_app_role_from_the_owner(services: Services) -> None:
    async with services.pool.acquire() as conn:
        assert await connects_as_owner(conn) is False
    owner = await asyncpg.connect(services.settings.migration_database_url())
    try:
        assert await connects_as_owner(owner) is True
    finally:
        await owner.close()


async def test_doctor_says_whether_the_service_dsn_is_least_privileged(
        services: Services) -> None:
    from pydantic import SecretStr

    from recstore.doctor import run_checks

    as_app = await run_checks(services.settings)
    assert as_app["checks"]["database"]["least_privileged"] is True
    as_owner = await run_checks(services.settings.model_copy(update={
        "database_url": SecretStr(services.settings.migration_database_url())}))
    assert as_owner["checks"]["database"]["least_privileged"] is False
