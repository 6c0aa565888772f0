-- Retention an auditor can check: the 90-day cap as a constraint, durable deletion claims,
-- a record of every pass and of every destroyed retention epoch.

ALTER TABLE recordings
    -- Set once the data key and the sealed caller fields are gone: the recording is unreadable.
    ADD COLUMN shredded_at             timestamptz,
    -- A scheduler's lease on the deletion; after a crash it lapses and another one finishes.
    ADD COLUMN deletion_claimed_by     uuid,
    ADD COLUMN deletion_claimed_until  timestamptz,
    ADD COLUMN deletion_attempts       integer NOT NULL DEFAULT 0,
    ADD COLUMN deletion_error          text,
    -- Who asked for the deletion, so whoever completes it writes the right audit entry.
    ADD COLUMN deletion_action         text,
    ADD COLUMN deletion_actor_type     text
        CHECK (deletion_actor_type IN ('customer', 'staff', 'system', 'provider')),
    ADD COLUMN deletion_actor_id       uuid,
    -- First time the janitor found the row without its object (reported, removed later).
    ADD COLUMN object_missing_since    timestamptz,
    ADD CONSTRAINT recordings_expire_within_90_days
        CHECK (expires_at <= recorded_at + interval '90 days');

-- The customer's retention as of the insert caps the expiry, whatever the writer computed: an
-- upload that started before the customer shortened retention cannot outlive the new setting.
-- FOR SHARE orders this against `UPDATE customers` in apply_retention_days.
CREATE FUNCTION recordings_cap_expiry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    days integer;
BEGIN
    SELECT retention_days INTO days FROM customers WHERE id = NEW.customer_id FOR SHARE;
    IF days IS NOT NULL THEN
        NEW.expires_at := LEAST(NEW.expires_at, NEW.recorded_at + make_interval(days => days));
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER recordings_cap_expiry BEFORE INSERT ON recordings
    FOR EACH ROW EXECUTE FUNCTION recordings_cap_expiry();

-- Byte order, as S3 lists keys: the janitor walks rows and bucket side by side.
CREATE INDEX recordings_object_key_bytes_idx ON recordings (object_key COLLATE "C");
CREATE INDEX recordings_epoch_idx ON recordings (epoch, customer_id);
-- The oldest live recording, for the metric and the report.
CREATE INDEX recordings_recorded_at_idx ON recordings (recorded_at);

CREATE TABLE retention_passes (
    task              text PRIMARY KEY CHECK (task IN ('retention', 'janitor')),
    last_started_at   timestamptz,
    last_finished_at  timestamptz,
    last_success_at   timestamptz,
    last_ok           boolean,
    last_result       jsonb,
    runs              bigint NOT NULL DEFAULT 0,
    failed_runs       bigint NOT NULL DEFAULT 0
);

-- Months whose epoch secret was destroyed: from then on no copy of this database opens them.
CREATE TABLE destroyed_epochs (
    epoch         text PRIMARY KEY CHECK (epoch ~ '^[0-9]{4}-[0-9]{2}$'),
    destroyed_at  timestamptz NOT NULL DEFAULT now()
);
