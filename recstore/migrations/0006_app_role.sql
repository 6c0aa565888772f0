-- serve and worker connect as a login role in recstore_app (RECSTORE_DATABASE_URL); only
-- `migrate` connects as the owner (RECSTORE_ADMIN_DATABASE_URL). The app role may read and
-- append the audit log but not change it, and may create, alter or drop nothing: it owns no
-- object, so it can neither disable a trigger nor change a table.

-- The migration history is the owner's: the service only checks it at start-up.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM PUBLIC;

-- No DDL in the schema, and no temporary tables or schemas in this database, for anyone but
-- the owner (PostgreSQL before 15 lets PUBLIC create in schema public).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

DO $$
BEGIN
    EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recstore_app') THEN
        REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM recstore_app;
        REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM recstore_app;
        REVOKE CREATE ON SCHEMA public FROM recstore_app;
    END IF;
END;
$$;
