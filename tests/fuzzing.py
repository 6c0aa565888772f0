"""Shared set-up of the fuzz tests: a short run in the suite, a long one with
RECSTORE_FUZZ=long (`make fuzz`), seeds from tests/fuzz_corpus/, and hypothesis' example
database there too, so a failure found by a long run is replayed by every later suite run."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase, ReadOnlyDatabase

CORPUS = Path(__file__).parent / "fuzz_corpus"
LONG = os.environ.get("RECSTORE_FUZZ") == "long"
_DATABASE = DirectoryBasedExampleDatabase(CORPUS / "hypothesis")

# No per-example deadline (a loaded CI machine is slow, not hung): pytest-timeout bounds a
# hang, and each target's inputs are size-bounded.
FUZZ = settings(
    max_examples=int(os.environ.get("RECSTORE_FUZZ_EXAMPLES", "20000")) if LONG else 150,
    deadline=None,
    database=_DATABASE if LONG else ReadOnlyDatabase(_DATABASE),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def seeds(name: str) -> list[bytes]:
    """The committed seed inputs of one target: one file each under fuzz_corpus/<name>/."""
    folder = CORPUS / name
    return [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()]


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes], max_size: int = 4096) -> bytes:
    """A seed with a few byte-level edits (flip, insert, delete, truncate, splice), or raw
    bytes: structure-aware enough to get past the first check of a parser."""
    if not corpus or draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=max_size))
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, len(data))) if data else 0
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            data[at:] = draw(st.sampled_from(corpus))[at:]
    return bytes(data[:max_size])


def text_of(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")
