"""Domain errors. The API's one middleware maps each to a problem+json status."""

from __future__ import annotations


class RecstoreError(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title


class BadRequest(RecstoreError):
    status = 400
    title = "Bad request"


class Unauthorized(RecstoreError):
    status = 401
    title = "Unauthorized"


class Forbidden(RecstoreError):
    status = 403
    title = "Forbidden"


class NotFound(RecstoreError):
    status = 404
    title = "Not found"


class RequestTimeout(RecstoreError):
    status = 408
    title = "Request timeout"


class Conflict(RecstoreError):
    status = 409
    title = "Conflict"


class PayloadTooLarge(RecstoreError):
    status = 413
    title = "Payload too large"


class UnsupportedMedia(RecstoreError):
    status = 415
    title = "Unsupported media type"


class RangeNotSatisfiable(RecstoreError):
    status = 416
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the resource has {size} bytes")
        self.size = size


class Invalid(RecstoreError):
    status = 422
    title = "Unprocessable content"


class TooManyRequests(RecstoreError):
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Unavailable(RecstoreError):
    status = 503
    title = "Service unavailable"


class KeyShredded(RecstoreError):
    """The key material needed to open this data was destroyed (retention or erasure)."""

    status = 404
    title = "Not found"
