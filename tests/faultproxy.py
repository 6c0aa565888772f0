"""A small fault-injecting proxy (in the spirit of toxiproxy) between recstore and the real
PostgreSQL or S3 of the test stack: it passes bytes through, or cuts every connection and
refuses new ones (a server that is down or restarting), or accepts and then stalls (a server
that hangs). Nothing is mocked: behind the proxy are the real servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Literal

Mode = Literal["pass", "down", "stall"]


class FaultProxy:
    def __init__(self, target: tuple[str, int] | Path) -> None:
        self.target = target
        self.mode: Mode = "pass"
        self._server: asyncio.Server | None = None
        self._listen: tuple[str, int] | Path | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start_tcp(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        self._listen = ("127.0.0.1", port)
        return port

    async def start_unix(self, path: Path) -> None:
        self._listen = path
        self._server = await asyncio.start_unix_server(self._handle, str(path))

    async def set(self, mode: Mode) -> None:
        """`down`: cut every connection and refuse new ones; `stall`: hold new ones, pass
        nothing; `pass`: back to normal."""
        self.mode = mode
        if mode == "down":
            self._cut_all()
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
                if isinstance(self._listen, Path):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self._listen)
        elif mode == "pass" and self._server is None and self._listen is not None:
            if isinstance(self._listen, Path):
                await self.start_unix(self._listen)
            else:
                host, port = self._listen
                self._server = await asyncio.start_server(self._handle, host, port,
                                                          reuse_address=True)

    async def close(self) -> None:
        await self.set("down")
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _cut_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if isinstance(self.target, Path):
                up_reader, up_writer = await asyncio.open_unix_connection(str(self.target))
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        pipes = [asyncio.create_task(self._pipe(reader, up_writer)),
                 asyncio.create_task(self._pipe(up_reader, writer))]
        self._tasks.update(pipes)
        # Either side closing closes the other (a half-open pair would hang the client).
        _, still = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in still:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        self._tasks.difference_update(pipes)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await self._copy(reader, writer)

    async def _copy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            while self.mode == "stall":
                await asyncio.sleep(0.05)
            writer.write(data)
            await writer.drain()
