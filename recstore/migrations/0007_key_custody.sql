-- Grants enforced by keys: each covered recording's data key sealed to the staff service's
-- key pair, bound to grant, recording, customer, staff member and expiry. Revocation,
-- expiry, deletion of the recording and erasure of the customer delete these rows.
CREATE TABLE grant_keys (
    grant_id      uuid NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    recording_id  uuid NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    sealed_key    bytea NOT NULL,
    PRIMARY KEY (grant_id, recording_id)
);
CREATE INDEX grant_keys_recording_idx ON grant_keys (recording_id);
CREATE INDEX grant_keys_expires_idx ON grant_keys (expires_at);
CREATE INDEX grant_keys_customer_idx ON grant_keys (customer_id);

-- Caller search under per-epoch blind-index keys (kept outside the database, destroyed with
-- the epoch): the per-customer key wrapped by the master keyring alone is re-indexed away
-- and then cleared (recstore/caller_index.py).
ALTER TABLE customers ALTER COLUMN index_key_wrapped DROP NOT NULL;

-- Weekly epochs (ISO weeks, "2026-W49") beside the monthly ones still live ("2026-11").
ALTER TABLE customer_keys DROP CONSTRAINT customer_keys_epoch_check,
    ADD CONSTRAINT customer_keys_epoch_check
        CHECK (epoch ~ '^[0-9]{4}-[0-9]{2}$' OR epoch ~ '^[0-9]{4}-W[0-9]{2}$');
ALTER TABLE destroyed_epochs DROP CONSTRAINT destroyed_epochs_epoch_check,
    ADD CONSTRAINT destroyed_epochs_epoch_check
        CHECK (epoch ~ '^[0-9]{4}-[0-9]{2}$' OR epoch ~ '^[0-9]{4}-W[0-9]{2}$');
