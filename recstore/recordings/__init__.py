"""Recordings themselves: storing (encrypt while streaming, probe, commit), reading (list, search by
caller, metadata, decrypt audio and ranges), and audio probing.

May import: recstore infrastructure and crypto/; never api/ or ingest/."""
