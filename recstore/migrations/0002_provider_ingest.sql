-- Provider ingest: per-customer provider accounts and what the fetch queue needs beyond 0001.

-- Credentials of a pull-style provider (Twilio, 46elks, Telnyx), one row per customer and
-- provider. Every secret sits in `credentials_wrapped`: a JSON object wrapped by the master
-- keyring and bound to the customer and provider (KeyService.wrap_secret).
CREATE TABLE provider_accounts (
    customer_id          uuid NOT NULL REFERENCES customers (id),
    provider             text NOT NULL CHECK (provider IN ('twilio', '46elks', 'telnyx')),
    credentials_wrapped  bytea NOT NULL,
    -- NULL: the provider's real API hosts. Otherwise the only origin fetched from (tests).
    api_base             text,
    delete_after_fetch   boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, provider)
);

-- `payload` keeps only operational fields (kind, provider call id, times). Caller and callee
-- numbers, names and media URLs (Telnyx's are bearer links) are wrapped in `sealed` and
-- dropped once the job is done.
ALTER TABLE ingest_jobs
    ADD COLUMN sealed       bytea,
    -- The worker holding the lease; completion and renewal are fenced on it.
    ADD COLUMN lease_owner  uuid,
    ADD COLUMN finished_at  timestamptz;

CREATE INDEX ingest_jobs_status_idx ON ingest_jobs (status, updated_at);
