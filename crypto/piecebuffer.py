"""A FIFO of byte pieces, cut into exact-size bytes objects with at most one copy.

nacl.bindings only accepts `bytes`, so each chunk must become a bytes object. Joining
pieces directly into it (instead of growing a bytearray and copying that) copies every
byte once, and a `bytes` piece that is exactly one chunk is passed on without any copy.
"""

from collections import deque

Piece = bytes | memoryview
MAX_SLACK = 1 << 16  # bytes of a caller's piece that a leftover view may keep alive


class PieceBuffer:
    def __init__(self) -> None:
        self._parts: deque[Piece] = deque()
        self.size = 0

    def add(self, data: bytes | bytearray | memoryview) -> None:
        # bytes are immutable and kept as they are; anything else may be reused by the
        # caller after update() returns, so it is copied.
        piece: Piece = data if type(data) is bytes else bytes(memoryview(data).cast("B"))
        if piece:
            self._parts.append(piece)
            self.size += len(piece)

    def take(self, size: int) -> bytes:
        """Remove and return the first `size` bytes (size <= self.size)."""
        if not size:
            return b""
        parts = self._parts
        self.size -= size
        first = parts[0]
        if len(first) == size:
            parts.popleft()
            return first if type(first) is bytes else bytes(first)
        if len(first) > size:
            view = first if type(first) is memoryview else memoryview(first)
            parts[0] = view[size:]
            return bytes(view[:size])
        taken, remaining = [], size
        while remaining >= len(parts[0]):
            remaining -= len(parts[0])
            taken.append(parts.popleft())
            if not remaining:
                return b"".join(taken)
        view = parts[0] if type(parts[0]) is memoryview else memoryview(parts[0])
        taken.append(view[:remaining])
        parts[0] = view[remaining:]
        return b"".join(taken)

    def compact(self) -> None:
        """Copy out a leftover view of a large piece, so it is not kept alive.

        Only the first part can be a view, and a view of a piece of about one chunk
        is kept as it is: copying it would cost more than holding it.
        """
        if self._parts:
            first = self._parts[0]
            if isinstance(first, memoryview) and (
                memoryview(first.obj).nbytes > len(first) + MAX_SLACK
            ):
                self._parts[0] = bytes(first)

    def clear(self) -> None:
        self._parts.clear()
        self.size = 0
