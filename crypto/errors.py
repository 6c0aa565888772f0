"""The one exception raised when anything fails to authenticate, decrypt or unwrap."""


class CryptoError(Exception):
    """Authentication, decryption or unwrapping failed.

    The message is deliberately generic: it never says which check failed, so callers
    cannot turn it into an oracle, and it never contains key material.
    """

    def __init__(self, message: str = "decryption failed") -> None:
        super().__init__(message)
