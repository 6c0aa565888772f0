"""Password hashing with Argon2id in libsodium's string format ($argon2id$...).

Cost: libsodium's INTERACTIVE limits (t=2, m=64 MiB): ~0.1 s to hash and ~0.07 s to
verify on the 2-core reference box, so a login stays well under a second even with a
few in parallel. MODERATE (t=3, m=256 MiB) took ~0.9 s there and would let four
concurrent logins claim 1 GiB. These calls block: run them off the event loop.
"""

import re
import unicodedata

import nacl.exceptions
import nacl.pwhash.argon2id as argon2id

OPSLIMIT: int = argon2id.OPSLIMIT_INTERACTIVE
MEMLIMIT: int = argon2id.MEMLIMIT_INTERACTIVE
_PREFIX = "$argon2id$"
_PARAMS = re.compile(r"\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=1\$")


def _encode(password: str) -> bytes:
    # NFKC so the same password typed on systems that compose characters differently
    # still matches (NIST SP 800-63B 5.1.1.2).
    return unicodedata.normalize("NFKC", password).encode("utf-8")


def hash_password(password: str) -> str:
    return argon2id.str(_encode(password), opslimit=OPSLIMIT, memlimit=MEMLIMIT).decode("ascii")


def verify_password(stored: str, password: str) -> bool:
    """True only if `password` matches; False for a mismatch or a malformed hash."""
    if not isinstance(stored, str) or not stored.startswith(_PREFIX):
        return False
    try:
        return argon2id.verify(stored.encode("ascii"), _encode(password))
    except (nacl.exceptions.InvalidkeyError, nacl.exceptions.CryptoError, ValueError,
            TypeError, UnicodeEncodeError):
        return False


def password_needs_rehash(stored: str) -> bool:
    """True if `stored` was made with other parameters than the current ones."""
    match = _PARAMS.match(stored)
    if match is None:
        return True
    memlimit_kib, opslimit = int(match.group(1)), int(match.group(2))
    return memlimit_kib * 1024 != MEMLIMIT or opslimit != OPSLIMIT
