"""The development stack: embedded PostgreSQL (pgserver) and S3 (SeaweedFS `weed mini`), dev keys
in a local data dir, `recstore up` and its demo data. Never used by production processes.

May import: every other part of recstore."""
