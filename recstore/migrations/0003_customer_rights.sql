-- Customer rights: a login throttle shared by every API process, service-wide secrets,
-- and the resumable state of account erasures.

-- Login attempts per account and per client address. `key` is a keyed BLAKE2b of the
-- normalised email or of the address (key in service_secrets), so neither is kept in clear.
CREATE TABLE login_throttle (
    key              bytea PRIMARY KEY,
    attempts         integer NOT NULL CHECK (attempts >= 0),
    last_attempt_at  timestamptz NOT NULL,
    locked_until     timestamptz
);
CREATE INDEX login_throttle_last_attempt_idx ON login_throttle (last_attempt_at);

-- Secrets of the service itself, wrapped by the master keyring and bound to their name.
CREATE TABLE service_secrets (
    name        text PRIMARY KEY,
    wrapped     bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per erased customer: requested (keys already shredded, tokens already refused),
-- then driven step by step to 'done' by whichever process holds the lease. Ids only.
CREATE TABLE customer_erasures (
    customer_id        uuid PRIMARY KEY REFERENCES customers (id),
    requested_by       uuid,
    requested_at       timestamptz NOT NULL DEFAULT now(),
    state              text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done')),
    recordings_erased  bigint NOT NULL DEFAULT 0,
    objects_erased     bigint NOT NULL DEFAULT 0,
    attempts           integer NOT NULL DEFAULT 0,
    lease_owner        uuid,
    lease_until        timestamptz,
    last_error         text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz
);
CREATE INDEX customer_erasures_running_idx ON customer_erasures (lease_until)
    WHERE state = 'running';
