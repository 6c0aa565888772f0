"""The one error TLS set-up raises: it names the variable to fix and never holds a secret."""

from __future__ import annotations

from recstore.errors import RecstoreError


class TLSConfigError(RecstoreError):
    """Start-up stops (exit 2): a certificate, key or CA named by ``variable`` is unusable."""

    title = "TLS configuration error"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
