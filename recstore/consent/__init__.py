"""Staff access under customer consent: grants, access requests, what staff may see, and the
notifications (with their outbox) that tell a customer about both.

May import: recstore infrastructure (audit, db, keys, errors), recordings and accounts."""
