"""Customers, their users, staff accounts, and customers' accounts at pull-style providers.

May import: recstore infrastructure (db, keys, errors, settings) and crypto/."""
