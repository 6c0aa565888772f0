"""The durable fetch queue of pull-style providers in PostgreSQL, and group commit of its inserts.

May import: recstore infrastructure (db, errors, metrics)."""
