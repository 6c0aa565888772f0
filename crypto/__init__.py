"""recstore's cryptographic core: pure functions and small classes, no I/O.

The byte formats are specified in docs/FORMAT.md.
"""

from .audio import decrypt_audio, encrypt_audio
from .blind_index import blind_index, epoch_index_key
from .datakeys import new_data_key, open_data_key, seal_data_key
from .epochs import epoch_of, month_epoch_of, new_epoch_secret, unwrap_private_key, wrap_private_key
from .errors import CryptoError
from .fields import open_field, seal_field
from .grant_keys import open_grant_key, seal_grant_key
from .kdf import derive_subkey
from .keypairs import CustomerKeyPair, generate_customer_keypair
from .keyring import MasterKeyring
from .passwords import hash_password, password_needs_rehash, verify_password
from .phone import normalize_phone
from .ranges import RangePlan, decrypt_range, plan_range
from .stream import ChunkOpener, StreamDecryptor, StreamEncryptor
from .stream_format import (
    CHUNK_SIZE,
    HEADER_SIZE,
    MAX_PLAINTEXT_SIZE,
    ciphertext_size,
    plaintext_size,
)

__all__ = [
    "CHUNK_SIZE",
    "HEADER_SIZE",
    "MAX_PLAINTEXT_SIZE",
    "ChunkOpener",
    "CryptoError",
    "CustomerKeyPair",
    "MasterKeyring",
    "RangePlan",
    "StreamDecryptor",
    "StreamEncryptor",
    "blind_index",
    "ciphertext_size",
    "decrypt_audio",
    "decrypt_range",
    "derive_subkey",
    "encrypt_audio",
    "epoch_index_key",
    "epoch_of",
    "generate_customer_keypair",
    "hash_password",
    "month_epoch_of",
    "new_data_key",
    "new_epoch_secret",
    "normalize_phone",
    "open_data_key",
    "open_field",
    "open_grant_key",
    "password_needs_rehash",
    "plaintext_size",
    "plan_range",
    "seal_data_key",
    "seal_field",
    "seal_grant_key",
    "unwrap_private_key",
    "verify_password",
    "wrap_private_key",
]
