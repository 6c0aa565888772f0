-- Whether the caller's identity is what the provider delivered, or missing because the
-- provider's lookup of it kept failing and the recording was stored without it (rather than
-- lost). Operational metadata: staff see it, it names nobody.
ALTER TABLE recordings
    ADD COLUMN caller_identity text NOT NULL DEFAULT 'delivered'
        CHECK (caller_identity IN ('delivered', 'lookup_failed'));
