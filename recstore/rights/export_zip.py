"""A ZIP archive written as a stream: members go out piece by piece, nothing is seeked.

The standard library's zipfile already streams to an unseekable file: it then writes each
member's sizes and CRC in a data descriptor after the data, and ZIP64 records where sizes
or offsets need them. So no dependency is needed (zipstream-ng would do the same, but it
pulls from synchronous iterables, while our audio comes from async decryption). The sink
below is that unseekable file; after every write the caller takes the bytes out and sends
them, so memory holds one piece at a time.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, cast


class _Sink:
    """Write-only and without tell(): zipfile treats it as unseekable."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        self._pieces.clear()
        return out


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    sha256: str
    content_type: str


def _zip_time(at: datetime) -> tuple[int, int, int, int, int, int]:
    utc = at.astimezone(UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


class Member:
    """One file being written: counts and hashes what goes in, for the manifest."""

    def __init__(self, archive: StreamingZip, handle: IO[bytes], path: str,
                 content_type: str) -> None:
        self._archive, self._handle = archive, handle
        self.path, self.content_type = path, content_type
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes | bytearray) -> bytes:
        """Add data; returns the archive bytes ready to send."""
        self.size += len(data)
        self.sha256.update(data)
        self._handle.write(data)
        return self._archive.take()

    def close(self) -> bytes:
        self._handle.close()
        self._archive.entries.append(
            Entry(self.path, self.size, self.sha256.hexdigest(), self.content_type))
        return self._archive.take()


class StreamingZip:
    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(cast(IO[bytes], self._sink), "w", allowZip64=True)
        self.entries: list[Entry] = []

    def take(self) -> bytes:
        return self._sink.take()

    def open(self, path: str, content_type: str, *, at: datetime, compress: bool,
             size_hint: int = 0) -> Member:
        """`size_hint` (the final size when known) lets zipfile choose ZIP64 up front."""
        info = zipfile.ZipInfo(path, date_time=_zip_time(at))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.file_size = size_hint
        info.external_attr = 0o600 << 16
        return Member(self, self._zip.open(info, "w"), path, content_type)

    def add(self, path: str, content_type: str, data: bytes, *, at: datetime) -> bytes:
        member = self.open(path, content_type, at=at, compress=True, size_hint=len(data))
        return member.write(data) + member.close()

    def close(self) -> bytes:
        """The central directory: the last bytes of the archive."""
        self._zip.close()
        return self.take()
