"""The signed upload, version 2, written from CONTRACT.md alone (not from ingest/), so that
the campaign also checks the server against the contract's text."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from uuid import UUID

SIGNED = ("content-type", "idempotency-key", "x-recstore-kind", "x-recstore-recorded-at",
          "x-recstore-caller", "x-recstore-caller-name", "x-recstore-callee")


def signed_upload_headers(secret: str, customer_id: UUID, body: bytes,
                          headers: Mapping[str, str], *, timestamp: int | None = None
                          ) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hashlib.sha256(body).hexdigest()
    lower = {name.lower(): value for name, value in headers.items()}
    message = f"recstore-upload-v2\n{ts}\n{str(customer_id).lower()}\n{digest}\n".encode()
    for name in SIGNED:
        message += name.encode() + b":" + lower.get(name, "").strip(" \t").encode() + b"\n"
    mac = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {**headers, "X-Recstore-Timestamp": str(ts), "X-Recstore-Content-SHA256": digest,
            "X-Recstore-Signature": f"v2={mac}"}
