#!/bin/sh
# Run once by the postgres image when its volume is first initialised: the login role that
# `serve` and `worker` connect as. Migrations (run as the owner, POSTGRES_USER) grant it
# what it needs through recstore_app; see docs/AUDIT.md for an existing database.
set -eu
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_password="$APP_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE recstore_app NOLOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recstore_app') \gexec
CREATE ROLE recstore_service LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS IN ROLE recstore_app;
SQL
