"""Customer X25519 key pairs (one per customer and retention epoch)."""

from dataclasses import dataclass, field

import nacl.bindings as sodium

PUBLIC_KEY_SIZE: int = sodium.crypto_box_PUBLICKEYBYTES
PRIVATE_KEY_SIZE: int = sodium.crypto_box_SECRETKEYBYTES


@dataclass(frozen=True)
class CustomerKeyPair:
    public_key: bytes
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"public key must be {PUBLIC_KEY_SIZE} bytes")
        if not isinstance(self.private_key, bytes) or len(self.private_key) != PRIVATE_KEY_SIZE:
            raise ValueError(f"private key must be {PRIVATE_KEY_SIZE} bytes")

    @classmethod
    def from_private_key(cls, private_key: bytes) -> "CustomerKeyPair":
        """Rebuild the pair from an unwrapped private key."""
        if not isinstance(private_key, bytes) or len(private_key) != PRIVATE_KEY_SIZE:
            raise ValueError(f"private key must be {PRIVATE_KEY_SIZE} bytes")
        return cls(sodium.crypto_scalarmult_base(private_key), private_key)


def generate_customer_keypair() -> CustomerKeyPair:
    public_key, private_key = sodium.crypto_box_keypair()
    return CustomerKeyPair(public_key, private_key)


def check_public_key(public_key: bytes) -> None:
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError(f"public key must be {PUBLIC_KEY_SIZE} bytes")
