-- The portal (issue 14): server-side browser sessions, per-user read state, per-user token
-- revocation, forced password change after an invitation, and new-recording notifications.

-- A browser session. The cookie holds a random token; only its BLAKE2b hash is stored, so a
-- database reader cannot take over a session. Deleting the row ends the session at once.
CREATE TABLE portal_sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_id   uuid REFERENCES customers (id),
    role          text NOT NULL,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX portal_sessions_user_idx ON portal_sessions (user_id);
CREATE INDEX portal_sessions_expires_idx ON portal_sessions (expires_at);

-- Which user has opened which recording (unread state is per user, not per customer).
CREATE TABLE recording_reads (
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recording_id  uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL REFERENCES customers (id),
    read_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, recording_id)
);
CREATE INDEX recording_reads_recording_idx ON recording_reads (recording_id);

-- Tokens and sessions of one user issued before this instant are refused (password change,
-- removal); customers.tokens_valid_after does the same for the whole customer.
ALTER TABLE users
    ADD COLUMN tokens_valid_after timestamptz,
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;

-- New-recording notices: on by default, and without the caller's number unless opted in
-- (an e-mail is not end-to-end encrypted).
ALTER TABLE customers
    ADD COLUMN notify_new_recordings boolean NOT NULL DEFAULT true,
    ADD COLUMN notify_include_caller boolean NOT NULL DEFAULT false;

ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check
    CHECK (kind IN ('access_request.created', 'grant.used', 'recording.stored'));
