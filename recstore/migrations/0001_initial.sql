-- recstore initial schema. Personal data lives only where DESIGN.md allows it:
-- customer contact fields (erasable), user emails (erasable), and caller identity
-- sealed to the customer's epoch key. Caller numbers are searchable only via a blind index.

CREATE TABLE customers (
    id                    uuid PRIMARY KEY,
    name                  text,
    email                 text,
    phone                 text,
    org_number            text,
    retention_days        integer NOT NULL DEFAULT 90 CHECK (retention_days BETWEEN 1 AND 90),
    delete_provider_copy  boolean NOT NULL DEFAULT false,
    -- Secrets wrapped by the master keyring (bound to the customer id as associated data).
    webhook_secret_wrapped bytea NOT NULL,
    index_key_wrapped      bytea NOT NULL,
    -- Tokens issued before this instant are refused (erasure, forced logout).
    tokens_valid_after    timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    erased_at             timestamptz
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    customer_id    uuid REFERENCES customers (id),
    email          text,
    password_hash  text,
    role           text NOT NULL CHECK (role IN ('customer_admin', 'customer_user', 'staff', 'operator')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz,
    CHECK ((role IN ('staff', 'operator')) = (customer_id IS NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX users_customer_idx ON users (customer_id);

-- One X25519 key pair per customer and retention epoch (calendar month of recorded_at).
-- The private key is wrapped under that month's epoch secret, which lives outside the database.
CREATE TABLE customer_keys (
    customer_id          uuid NOT NULL REFERENCES customers (id),
    epoch                text NOT NULL CHECK (epoch ~ '^[0-9]{4}-[0-9]{2}$'),
    public_key           bytea NOT NULL,
    wrapped_private_key  bytea NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, epoch)
);

CREATE TABLE recordings (
    id                     uuid PRIMARY KEY,
    customer_id            uuid NOT NULL REFERENCES customers (id),
    kind                   text NOT NULL CHECK (kind IN ('call', 'voicemail')),
    provider               text NOT NULL,
    provider_recording_id  text,
    epoch                  text NOT NULL,
    recorded_at            timestamptz NOT NULL,
    received_at            timestamptz NOT NULL DEFAULT now(),
    expires_at             timestamptz NOT NULL,
    duration_ms            integer,
    content_type           text NOT NULL,
    size_bytes             bigint NOT NULL CHECK (size_bytes >= 0),
    sha256                 bytea NOT NULL,
    object_key             text NOT NULL UNIQUE,
    sealed_data_key        bytea NOT NULL,
    caller_number_sealed   bytea,
    caller_name_sealed     bytea,
    callee_number_sealed   bytea,
    caller_index           bytea,
    -- Signed uploads without an Idempotency-Key are deduplicated by their signature, so a
    -- replayed request inside the timestamp window stores nothing twice.
    request_digest         bytea,
    FOREIGN KEY (customer_id, epoch) REFERENCES customer_keys (customer_id, epoch)
);
CREATE UNIQUE INDEX recordings_provider_key
    ON recordings (customer_id, provider, provider_recording_id)
    WHERE provider_recording_id IS NOT NULL;
CREATE UNIQUE INDEX recordings_request_digest_key
    ON recordings (customer_id, request_digest) WHERE request_digest IS NOT NULL;
CREATE INDEX recordings_customer_newest_idx ON recordings (customer_id, recorded_at DESC, id DESC);
CREATE INDEX recordings_caller_idx ON recordings (customer_id, caller_index, recorded_at DESC, id DESC);
CREATE INDEX recordings_expires_idx ON recordings (expires_at);

-- An object being written before its row exists. A crash between put and commit leaves an
-- entry here, and the janitor removes that object once the entry is older than a grace period.
CREATE TABLE pending_uploads (
    object_key   text PRIMARY KEY,
    customer_id  uuid NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now()
);

-- Durable fetch queue for pull-style providers (leased with FOR UPDATE SKIP LOCKED).
CREATE TABLE ingest_jobs (
    id                     uuid PRIMARY KEY,
    customer_id            uuid NOT NULL REFERENCES customers (id),
    provider               text NOT NULL,
    provider_recording_id  text NOT NULL,
    payload                jsonb NOT NULL,
    status                 text NOT NULL DEFAULT 'queued'
                           CHECK (status IN ('queued', 'running', 'done', 'dead')),
    attempts               integer NOT NULL DEFAULT 0,
    run_after              timestamptz NOT NULL DEFAULT now(),
    lease_until            timestamptz,
    last_error             text,
    recording_id           uuid,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, provider, provider_recording_id)
);
CREATE INDEX ingest_jobs_ready_idx ON ingest_jobs (run_after) WHERE status IN ('queued', 'running');

CREATE TABLE access_requests (
    id              uuid PRIMARY KEY,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    staff_id        uuid NOT NULL REFERENCES users (id),
    all_recordings  boolean NOT NULL,
    recording_ids   uuid[] NOT NULL DEFAULT '{}',
    reason          text NOT NULL,
    ticket          text NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    decided_by      uuid REFERENCES users (id),
    grant_id        uuid
);
CREATE INDEX access_requests_customer_idx ON access_requests (customer_id, created_at DESC);

CREATE TABLE grants (
    id              uuid PRIMARY KEY,
    customer_id     uuid NOT NULL REFERENCES customers (id),
    staff_id        uuid REFERENCES users (id),
    all_recordings  boolean NOT NULL,
    recording_ids   uuid[] NOT NULL DEFAULT '{}',
    purpose         text NOT NULL,
    created_by      uuid NOT NULL REFERENCES users (id),
    request_id      uuid REFERENCES access_requests (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    revoked_by      uuid REFERENCES users (id),
    CHECK (expires_at <= created_at + interval '7 days')
);
CREATE INDEX grants_customer_idx ON grants (customer_id, created_at DESC);

-- Append-only, hash-chained per customer. Only ids, never personal data.
CREATE TABLE audit_log (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL,
    seq           bigint NOT NULL,
    at            timestamptz NOT NULL,
    actor_type    text NOT NULL CHECK (actor_type IN ('customer', 'staff', 'system', 'provider')),
    actor_id      uuid,
    action        text NOT NULL,
    recording_id  uuid,
    grant_id      uuid,
    prev_hash     bytea NOT NULL,
    hash          bytea NOT NULL,
    UNIQUE (customer_id, seq)
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
