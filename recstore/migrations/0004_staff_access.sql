-- Staff access under customer consent: grant and request invariants, the notification
-- outbox, and an application role that can only read and append the audit log.

ALTER TABLE grants
    ADD CONSTRAINT grants_scope_named CHECK (all_recordings OR cardinality(recording_ids) > 0),
    ADD CONSTRAINT grants_expiry_after_creation CHECK (expires_at > created_at);
CREATE INDEX grants_live_idx ON grants (customer_id) WHERE revoked_at IS NULL;

ALTER TABLE access_requests
    ADD CONSTRAINT access_requests_scope_named
        CHECK (all_recordings OR cardinality(recording_ids) > 0);
-- The expiry job looks only at requests still waiting for an answer.
CREATE INDEX access_requests_pending_idx ON access_requests (created_at) WHERE status = 'pending';
CREATE INDEX access_requests_staff_idx ON access_requests (staff_id, created_at DESC);

-- Outbox: written in the same transaction as the event, delivered by the worker, so a
-- notification is neither lost when the channel is down nor sent for a rolled-back event.
-- Ids only; the channel looks up what it needs when it sends.
CREATE TABLE notifications (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('access_request.created', 'grant.used')),
    request_id    uuid,
    grant_id      uuid,
    recording_id  uuid,
    staff_id      uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    run_after     timestamptz NOT NULL DEFAULT now(),
    delivered_at  timestamptz,
    failed_at     timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (run_after)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
-- A player fetches audio in many Range requests: the customer hears once per recording.
CREATE UNIQUE INDEX notifications_grant_use_once ON notifications (grant_id, recording_id)
    WHERE kind = 'grant.used';

-- A customer's own endpoint for notifications (set by an operator), signed with its secret.
CREATE TABLE notification_webhooks (
    customer_id     uuid PRIMARY KEY REFERENCES customers (id),
    url             text NOT NULL CHECK (url ~ '^https?://'),
    secret_wrapped  bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Append-only beyond the trigger: nobody but the owner may change audit rows, and the
-- owner needs to disable the trigger first. Production connects as a login role that is a
-- member of recstore_app, which does not own the table and so cannot disable the trigger.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recstore_app') THEN
        BEGIN
            CREATE ROLE recstore_app NOLOGIN;
        EXCEPTION
            WHEN duplicate_object THEN NULL;  -- created meanwhile by a migration of another database
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'no CREATEROLE: create role recstore_app as docs/AUDIT.md shows';
                RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA public TO recstore_app;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO recstore_app;
    REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM recstore_app;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public
        GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO recstore_app;
END;
$$;
