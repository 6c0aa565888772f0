"""Customer rights under GDPR: export (access and portability), erasure of one recording or a whole
account, and the customer's own settings (retention, provider-copy deletion).

May import: recstore infrastructure, recordings, consent and retention."""
