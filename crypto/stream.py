"""Chunked XChaCha20-Poly1305 in the STREAM construction (see stream_format)."""

from uuid import UUID

from . import aead
from .errors import CryptoError
from .piecebuffer import PieceBuffer
from .stream_format import (
    CHUNK_SIZE,
    CIPHER_CHUNK_SIZE,
    MAX_CHUNKS,
    NONCE_PREFIX_SIZE,
    TAG_SIZE,
    associated_data,
    build_header,
    chunk_count,
    chunk_nonce,
    final_chunk_plaintext_size,
    parse_header,
)


class StreamEncryptor:
    """Write `header`, then every update() result, then finalize()."""

    def __init__(
        self,
        data_key: bytes,
        *,
        customer_id: UUID,
        recording_id: UUID,
        nonce_prefix: bytes | None = None,
    ) -> None:
        aead.check_key(data_key, "data key")
        if nonce_prefix is None:
            nonce_prefix = aead.random_bytes(NONCE_PREFIX_SIZE)
        self.header = build_header(nonce_prefix)
        self._key = data_key
        self._prefix = nonce_prefix
        self._aad = associated_data(self.header, customer_id, recording_id)
        # Holds 1..CHUNK_SIZE bytes after data arrived: a full chunk can only be sealed
        # once more data proves it is not the final one.
        self._buffer = PieceBuffer()
        self._index = 0
        self._done = False

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Return the ciphertext of every chunk now known not to be the last."""
        if self._done:
            raise RuntimeError("stream already finalized")
        buffer = self._buffer
        buffer.add(data)
        if buffer.size <= CHUNK_SIZE:
            return b""
        out = []
        while buffer.size > CHUNK_SIZE:
            out.append(self._seal(buffer.take(CHUNK_SIZE), final=False))
        buffer.compact()
        return out[0] if len(out) == 1 else b"".join(out)

    def finalize(self) -> bytes:
        """Seal the final chunk (empty only if the whole stream is empty)."""
        if self._done:
            raise RuntimeError("stream already finalized")
        self._done = True
        return self._seal(self._buffer.take(self._buffer.size), final=True)

    def _seal(self, plaintext: bytes, *, final: bool) -> bytes:
        # A non-final chunk must leave room for the final one after it.
        if self._index >= (MAX_CHUNKS if final else MAX_CHUNKS - 1):
            self._done = True
            raise ValueError("stream exceeds the maximum of 2**32-1 chunks")
        nonce = chunk_nonce(self._prefix, self._index, final)
        self._index += 1
        return aead.seal(self._key, nonce, plaintext, self._aad)


class StreamDecryptor:
    """Decrypt chunks first_chunk..last_chunk (default: through the final chunk).

    The plaintext size says how many chunks exist and how long each is, so the chunk
    that must carry the final flag is known in advance: truncation at a chunk
    boundary, dropped or appended chunks all fail. Plaintext is returned only for
    chunks that authenticated; after any failure the decryptor refuses further use.
    Pieces of up to 256 KiB keep it near libsodium's own speed (docs/BENCHMARKS.md).
    """

    def __init__(
        self,
        data_key: bytes,
        header: bytes,
        *,
        customer_id: UUID,
        recording_id: UUID,
        plaintext_size: int,
        first_chunk: int = 0,
        last_chunk: int | None = None,
    ) -> None:
        aead.check_key(data_key, "data key")
        self._prefix = parse_header(header)
        self._aad = associated_data(header, customer_id, recording_id)
        self._key = data_key
        count = chunk_count(plaintext_size)
        self._final_index = count - 1
        self._final_len = final_chunk_plaintext_size(plaintext_size) + TAG_SIZE
        self._last = self._final_index if last_chunk is None else last_chunk
        if not 0 <= first_chunk <= self._last <= self._final_index:
            raise ValueError("chunk range outside the stream")
        self._index = first_chunk
        self._next_len = self._expected_len()
        self._buffer = PieceBuffer()
        self._failed = False
        self._finalized = False
        self.chunks_decrypted = 0

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Return the plaintext of every chunk completed and authenticated so far."""
        if self._failed or self._finalized:
            self._check_usable()
        buffer = self._buffer
        buffer.add(data)
        if buffer.size < self._next_len:
            return b""
        out = []
        while buffer.size >= self._next_len:
            if self._index > self._last:
                self._fail()  # data beyond the last expected chunk
            out.append(self._open(buffer.take(self._next_len)))
        buffer.compact()
        return out[0] if len(out) == 1 else b"".join(out)

    def finalize(self) -> bytes:
        """Raise CryptoError unless exactly the expected chunks arrived; returns b""."""
        self._check_usable()
        self._finalized = True
        if self._buffer.size or self._index <= self._last:
            self._fail()
        return b""

    def _expected_len(self) -> int:
        """Ciphertext length of the next chunk; 1 once done, so any further byte fails."""
        if self._index > self._last:
            return 1
        return self._final_len if self._index == self._final_index else CHUNK_SIZE + TAG_SIZE

    def _open(self, chunk: bytes) -> bytes:
        nonce = chunk_nonce(self._prefix, self._index, self._index == self._final_index)
        try:
            plaintext = aead.open_(self._key, nonce, chunk, self._aad)
        except CryptoError:
            self._failed = True
            raise
        self._index += 1
        self._next_len = self._expected_len()
        self.chunks_decrypted += 1
        return plaintext

    def _check_usable(self) -> None:
        if self._failed:
            raise CryptoError()
        if self._finalized:
            raise RuntimeError("stream already finalized")

    def _fail(self) -> None:
        self._failed = True
        self._buffer.clear()
        raise CryptoError()


class ChunkOpener:
    """Opens runs of whole chunks by index, each run on its own: in any order, any thread.

    Each chunk's length and final flag follow from the plaintext size, so a run that is
    cut, extended, or read from another index fails. Unlike StreamDecryptor it cannot see
    chunks that never arrive: the caller must open every chunk of the range it serves.
    """

    def __init__(self, data_key: bytes, header: bytes, *, customer_id: UUID,
                 recording_id: UUID, plaintext_size: int) -> None:
        aead.check_key(data_key, "data key")
        self._prefix = parse_header(header)
        self._aad = associated_data(header, customer_id, recording_id)
        self._key = data_key
        self._final_index = chunk_count(plaintext_size) - 1
        self._final_len = final_chunk_plaintext_size(plaintext_size) + TAG_SIZE

    def open(self, first_chunk: int, ciphertext: bytes | bytearray | memoryview) -> bytearray:
        """The plaintext of chunks first_chunk, first_chunk + 1, ... that are `ciphertext`."""
        source = memoryview(ciphertext).cast("B")
        size, index = len(source), first_chunk
        chunks = -(-size // CIPHER_CHUNK_SIZE)
        if (not size or index + chunks - 1 > self._final_index
                or size != (chunks - 1) * CIPHER_CHUNK_SIZE + self._length(index + chunks - 1)):
            raise CryptoError()
        plaintext = bytearray(size - chunks * TAG_SIZE)
        target = memoryview(plaintext)
        for n in range(chunks):
            final = index + n == self._final_index
            cipher = source[n * CIPHER_CHUNK_SIZE:n * CIPHER_CHUNK_SIZE + self._length(index + n)]
            aead.open_into(self._key, chunk_nonce(self._prefix, index + n, final), cipher,
                           self._aad, target[n * CHUNK_SIZE:n * CHUNK_SIZE + len(cipher) - TAG_SIZE])
        return plaintext

    def _length(self, index: int) -> int:
        return self._final_len if index == self._final_index else CIPHER_CHUNK_SIZE
