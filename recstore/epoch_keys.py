"""Per-month epoch secrets, kept in a file outside the database.

Each secret is wrapped by the master keyring. Destroying a month's entry makes every
customer private key of that month, in the database and in all its backups, unopenable.
Operators must keep this file out of long-lived backups (see docs/OPERATIONS.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from crypto import MasterKeyring, new_epoch_secret

_FORMAT_VERSION = 1


def _aad(epoch: str) -> bytes:
    return f"recstore epoch secret {epoch}".encode()


class EpochKeyStore:
    def __init__(self, path: Path, keyring: MasterKeyring) -> None:
        self.path = path
        self._keyring = keyring
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

    def _read(self) -> dict[str, str]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        if document.get("version") != _FORMAT_VERSION:
            raise RuntimeError("unknown epoch key file version")
        epochs: dict[str, str] = document["epochs"]
        return epochs

    def _write(self, epochs: dict[str, str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"version": _FORMAT_VERSION, "epochs": epochs}, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_ino)

    def _refresh(self) -> None:
        stamp = self._stamp()
        if stamp != self._cache_stamp:
            self._cache = {
                epoch: self._keyring.unwrap(base64.b64decode(blob), aad=_aad(epoch))
                for epoch, blob in self._read().items()
            }
            self._cache_stamp = stamp

    def get(self, epoch: str) -> bytes | None:
        """The month's secret, or None once it has been destroyed (or never existed)."""
        self._refresh()
        return self._cache.get(epoch)

    def get_or_create(self, epoch: str) -> bytes:
        secret = self.get(epoch)
        if secret is not None:
            return secret
        with self._locked():
            epochs = self._read()
            if epoch not in epochs:
                wrapped = self._keyring.wrap(new_epoch_secret(), aad=_aad(epoch))
                epochs[epoch] = base64.b64encode(wrapped).decode()
                self._write(epochs)
        secret = self.get(epoch)
        assert secret is not None
        return secret

    def epochs(self) -> list[str]:
        return sorted(self._read())

    def destroy(self, epoch: str) -> bool:
        """Forget a month's secret for good. Returns whether it existed."""
        with self._locked():
            epochs = self._read()
            existed = epochs.pop(epoch, None) is not None
            if existed:
                self._write(epochs)
        self._refresh()
        return existed

    def rewrap(self) -> int:
        """Re-wrap every secret under the newest master key (after a rotation)."""
        with self._locked():
            epochs = self._read()
            changed = 0
            for epoch, blob in epochs.items():
                raw = base64.b64decode(blob)
                if self._keyring.needs_rewrap(raw):
                    secret = self._keyring.unwrap(raw, aad=_aad(epoch))
                    epochs[epoch] = base64.b64encode(self._keyring.wrap(secret, aad=_aad(epoch))).decode()
                    changed += 1
            if changed:
                self._write(epochs)
        return changed
