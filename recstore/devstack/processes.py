"""Helpers the embedded servers share: their start-up error, polling, log tails, process checks."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from recstore.errors import RecstoreError


class EmbeddedStackError(RecstoreError, RuntimeError):
    """An embedded server could not be started (the message says which, with its log tail).
    A RecstoreError, so the CLI prints it as one line (and as JSON under --json), not a trace."""


def log_tail(path: Path, *, lines: int = 30, redact: Iterable[str] = (), start: int = 0) -> str:
    """The last lines of a log file (from byte ``start`` on), ``redact`` masked, for error messages."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(start, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    tail = "\n".join(text.splitlines()[-lines:])
    for secret in redact:
        if secret:
            tail = tail.replace(secret, "***")
    return tail or "(empty)"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(interval)
    return True


def process_alive(proc: psutil.Process) -> bool:
    """Whether ``proc`` (the very process, not a reuse of its pid) still runs; zombies do not."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
