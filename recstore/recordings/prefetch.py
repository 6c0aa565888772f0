"""Work a stream ahead of its consumer in a thread of its own, a bounded number of pieces.

Reading from S3 and decrypting block (and release the GIL); run as one thread hop per piece,
the loop would wait for each hop after sending the previous piece, and with a handful of
worker threads shared by every request, eight downloads would queue behind each other. A
thread per stream keeps reading while the loop sends, never more than `depth` pieces ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

Step = Callable[[], "bytearray | None"]


class Prefetcher:
    """Calls `first`, then `step` until it returns None, each result handed to next()."""

    def __init__(self, first: Step, step: Step, *, depth: int,
                 on_exit: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[bytearray | None, BaseException | None]] = asyncio.Queue()
        self._room = threading.Semaphore(depth)
        self._stopped = threading.Event()
        self._first, self._step, self._on_exit = first, step, on_exit
        self._thread = threading.Thread(target=self._run, name="recstore-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        step = self._first
        try:
            while True:
                self._room.acquire()
                if self._stopped.is_set():
                    return
                piece = step()
                step = self._step
                self._hand_over((piece, None))
                if piece is None:
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._hand_over((None, exc))
        finally:
            self._on_exit()

    def _hand_over(self, item: tuple[bytearray | None, BaseException | None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)

    async def next(self) -> bytearray | None:
        piece, error = await self._queue.get()
        self._room.release()
        if error is not None:
            raise error
        return piece

    def stop(self) -> None:
        """Stop after the piece in progress; the thread then runs on_exit and ends."""
        self._stopped.set()
        self._room.release()
