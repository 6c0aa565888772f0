"""Per-epoch secrets, kept in a file outside the database.

Each epoch secret is wrapped by the master keyring; each epoch's blind-index secret twice,
by the master keyring (search, in the customer role) and by the ingest keyring (indexing at
ingest, which holds no epoch secret). Destroying a month's entry makes every
customer private key of that month, in the database and in all its backups, unopenable.
Operators must keep this file out of long-lived backups (see docs/OPERATIONS.md).

A destroyed month leaves a tombstone (its name and when), and no secret is ever created for
a month that is tombstoned or already past retention: a late recording for such a month is
refused instead of being sealed under a fresh secret.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto import MasterKeyring, new_epoch_secret
from recstore.custody import KeyMaterialMissing
from recstore.errors import Invalid
from recstore.retention.policy import epoch_closes_at

_FORMAT_VERSION = 1


class EpochClosed(Invalid):
    """A recording for a month whose key material is, or may already be, destroyed."""

    def __init__(self) -> None:
        super().__init__("the recording is already past its retention period")


def _aad(epoch: str) -> bytes:
    return f"recstore epoch secret {epoch}".encode()


class EpochKeyStore:
    def __init__(self, path: Path, keyring: MasterKeyring | None,
                 ingest: MasterKeyring | None = None) -> None:
        """Without a keyring (processes that hold no epoch secret) the store still knows
        which epochs exist and which are destroyed, and can destroy them."""
        self.path = path
        self._keyring = keyring
        self._ingest = ingest
        self._index_cache: dict[str, bytes] = {}
        self._index_stamp: tuple[int, int] | None = None
        self._cache: dict[str, bytes] = {}
        self._cache_stamp: tuple[int, int] | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_document(self) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {"epochs": {}, "destroyed": {}}
        if document.get("version") != _FORMAT_VERSION:
            raise RuntimeError("unknown epoch key file version")
        document.setdefault("destroyed", {})
        return document

    def _read(self) -> dict[str, str]:
        epochs: dict[str, str] = self._read_document()["epochs"]
        return epochs

    def _write(self, epochs: dict[str, str], destroyed: dict[str, str] | None = None,
               index: dict[str, dict[str, str]] | None = None) -> None:
        if destroyed is None:
            destroyed = self._read_document()["destroyed"]
        if index is None:
            index = self._read_document().get("index", {})
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"version": _FORMAT_VERSION, "epochs": epochs, "destroyed": destroyed,
                       "index": index}, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)
        self._sync_directory()

    def _sync_directory(self) -> None:
        # The rename itself must be durable, or a crash could bring a destroyed secret back.
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_ino)

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp != self._cache_stamp:
            keyring = self._unwrapping()
            self._cache = {
                epoch: keyring.unwrap(base64.b64decode(blob), aad=_aad(epoch))
                for epoch, blob in self._read().items()
            }
            self._cache_stamp = stamp

    def _unwrapping(self) -> MasterKeyring:
        if self._keyring is None:
            raise KeyMaterialMissing("this process holds no epoch secrets (RECSTORE_MASTER_KEYS)")
        return self._keyring

    def get(self, epoch: str) -> bytes | None:
        """The month's secret, or None once it has been destroyed (or never existed)."""
        self._unwrapping()
        self._refresh()
        return self._cache.get(epoch)

    def get_or_create(self, epoch: str, *, now: datetime | None = None) -> bytes:
        """The month's secret, created on first use; EpochClosed for a month that is destroyed
        or past retention (no recording of it may be stored any more)."""
        secret = self.get(epoch)
        if secret is not None:
            return secret
        if (now or datetime.now(UTC)) >= epoch_closes_at(epoch):
            raise EpochClosed()
        with self._locked():
            document = self._read_document()
            epochs: dict[str, str] = document["epochs"]
            if epoch in document["destroyed"]:
                raise EpochClosed()
            if epoch not in epochs:
                wrapped = self._unwrapping().wrap(new_epoch_secret(), aad=_aad(epoch))
                epochs[epoch] = base64.b64encode(wrapped).decode()
                self._write(epochs, document["destroyed"])
        secret = self.get(epoch)
        assert secret is not None
        return secret

    def check_open(self, epoch: str, *, now: datetime | None = None) -> None:
        """EpochClosed unless recordings may still be stored in this epoch (no secret needed)."""
        if (now or datetime.now(UTC)) >= epoch_closes_at(epoch) or epoch in self.destroyed():
            raise EpochClosed()

    def epochs(self) -> list[str]:
        return sorted(self._read())

    def destroyed(self) -> dict[str, str]:
        """Tombstones: destroyed month -> when (RFC 3339)."""
        tombstones: dict[str, str] = self._read_document()["destroyed"]
        return dict(sorted(tombstones.items()))

    def destroy(self, epoch: str, *, now: datetime | None = None) -> bool:
        """Forget a month's secret for good and leave a tombstone. Returns whether it existed."""
        epoch_closes_at(epoch)  # validates the name before anything is written
        with self._locked():
            document = self._read_document()
            epochs: dict[str, str] = document["epochs"]
            destroyed: dict[str, str] = document["destroyed"]
            index: dict[str, dict[str, str]] = document.get("index", {})
            existed = epochs.pop(epoch, None) is not None
            had_index = index.pop(epoch, None) is not None
            if existed or had_index or epoch not in destroyed:
                destroyed.setdefault(epoch, (now or datetime.now(UTC)).isoformat())
                self._write(epochs, destroyed, index)
        self._index_cache.pop(epoch, None)
        if self._keyring is not None:
            self._refresh()
        return existed

    def rewrap(self) -> int:
        """Re-wrap every secret under the newest key of its keyring (after a rotation): the
        epoch secrets (master) and both wraps of each index secret, as far as this process
        holds the keyrings. Returns how many wraps changed."""
        with self._locked():
            document = self._read_document()
            epochs: dict[str, str] = document["epochs"]
            index: dict[str, dict[str, str]] = document.get("index", {})
            changed = 0
            if self._keyring is not None:
                for epoch, blob in epochs.items():
                    if (fresh := _rewrapped(self._keyring, blob, _aad(epoch))) is not None:
                        epochs[epoch], changed = fresh, changed + 1
            for name, ring in (("master", self._keyring), ("ingest", self._ingest)):
                for epoch, wraps in index.items():
                    if ring is None or name not in wraps:
                        continue
                    if (fresh := _rewrapped(ring, wraps[name], _index_aad(epoch))) is not None:
                        wraps[name], changed = fresh, changed + 1
            if changed:
                self._write(epochs, document["destroyed"], index)
        return changed

    # Blind-index secrets: one per epoch, destroyed with it (docs/FORMAT.md "Caller index").
    def index_secret(self, epoch: str) -> bytes | None:
        """This epoch's index secret, unwrapped by whichever keyring this process holds;
        None if it does not exist (destroyed, or never made)."""
        if self._keyring is None and self._ingest is None:
            raise KeyMaterialMissing("this process holds no keyring for caller indexes")
        stamp = self._stamp()
        if stamp != self._index_stamp:
            self._index_cache, self._index_stamp = {}, stamp
        if epoch not in self._index_cache:
            wraps: dict[str, str] | None = self._read_document().get("index", {}).get(epoch)
            if wraps is None:
                return None
            which, keyring = ("master", self._keyring) if self._keyring is not None \
                else ("ingest", self._ingest)
            assert keyring is not None
            self._index_cache[epoch] = keyring.unwrap(base64.b64decode(wraps[which]),
                                                      aad=_index_aad(epoch))
        return self._index_cache[epoch]

    def index_epochs(self) -> list[str]:
        """Epochs whose index secret is live: search computes the index under each."""
        return sorted(self._read_document().get("index", {}))

    def ensure_index(self, epoch: str, *, now: datetime | None = None) -> bytes:
        """The index secret, made (wrapped under both keyrings) if missing; needs both."""
        found = self.index_secret(epoch)
        if found is not None:
            return found
        if self._keyring is None or self._ingest is None:
            raise KeyMaterialMissing("making an epoch's caller index secret needs"
                                     " RECSTORE_MASTER_KEYS and RECSTORE_INGEST_KEYS")
        self.check_open(epoch, now=now)
        with self._locked():
            document = self._read_document()
            index: dict[str, dict[str, str]] = document.get("index", {})
            if epoch in document["destroyed"]:
                raise EpochClosed()
            if epoch not in index:
                secret = new_epoch_secret()
                index[epoch] = {
                    name: base64.b64encode(ring.wrap(secret, aad=_index_aad(epoch))).decode()
                    for name, ring in (("master", self._keyring), ("ingest", self._ingest))}
                self._write(document["epochs"], document["destroyed"], index)
        made = self.index_secret(epoch)
        assert made is not None
        return made


def _rewrapped(keyring: MasterKeyring, blob: str, aad: bytes) -> str | None:
    """A base64 wrap under the keyring's newest key, or None if it already is."""
    raw = base64.b64decode(blob)
    if not keyring.needs_rewrap(raw):
        return None
    return base64.b64encode(keyring.rewrap(raw, aad=aad)).decode()


def _index_aad(epoch: str) -> bytes:
    return f"recstore epoch index secret {epoch}".encode()
