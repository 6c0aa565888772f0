"""Why a fetch job failed, in words fit for operators: never a URL, number or credential."""

from __future__ import annotations


class IngestFailure(Exception):
    """A job attempt failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class FetchRefused(IngestFailure):
    """The fetch policy refused a URL, address or redirect: retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def http_failure(what: str, status: int) -> IngestFailure:
    """404 is retried too: providers can answer a callback before the media is published."""
    retryable = status >= 500 or status in (404, 408, 409, 425, 429)
    return IngestFailure(f"{what}: the provider answered HTTP {status}", retryable=retryable,
                         status=status)
