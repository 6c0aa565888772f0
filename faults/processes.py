"""The recstore processes under test, and the supervisor that restarts one that was killed
(as systemd or a container runtime would): `serve` on its own port, `worker`."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

RECSTORE = str(Path(sys.executable).parent / "recstore")
PR_SET_PDEATHSIG = 1


def _die_with_the_harness() -> None:
    """In the child before exec: SIGKILL it when the harness dies, however it dies (a killed
    pytest left serve and worker processes running with ppid 1)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Managed:
    name: str
    command: str
    env: dict[str, str]
    log: Path
    port: int | None = None
    proc: asyncio.subprocess.Process | None = None
    kills: int = 0
    starts: int = 0
    # Held while the process is killed and restarted, so that the supervisor's keep_alive
    # does not start a second one meanwhile: the first would run on, untracked, and outlive
    # the campaign (and a second serve cannot bind the port: "address in use").
    restarting: asyncio.Lock = field(default_factory=asyncio.Lock)
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self) -> None:
        if self.alive():
            return  # one process per Managed, never two
        env = dict(self.env)
        if self.port is not None:
            env["RECSTORE_PORT"] = str(self.port)
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                RECSTORE, self.command, env=env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=log,
                preexec_fn=_die_with_the_harness if sys.platform == "linux" else None)
        self.started.append(self.proc)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def kill(self) -> None:
        if self.proc is not None and self.alive():
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
            self.kills += 1

    async def terminate(self) -> None:
        """Stop every process this ever started (SIGTERM, then SIGKILL after 30 s)."""
        for proc in self.started:
            if proc.returncode is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.send_signal(signal.SIGKILL)
                await proc.wait()


@dataclass
class Supervisor:
    processes: list[Managed]
    restart_delay: float = 0.5
    rng: random.Random = field(default_factory=random.Random)

    @property
    def api_ports(self) -> list[int]:
        return [p.port for p in self.processes if p.port is not None]

    async def start_all(self, deadline_seconds: float = 60.0) -> None:
        for proc in self.processes:
            await proc.start()
        await self.wait_ready(deadline_seconds)

    async def wait_ready(self, deadline_seconds: float) -> None:
        deadline = time.monotonic() + deadline_seconds
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            for port in self.api_ports:
                while True:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                            if response.status == 200:
                                break
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"recstore serve on port {port} did not get ready")
                    await asyncio.sleep(0.2)

    async def kill_one(self) -> Managed:
        victim = self.rng.choice(self.processes)
        async with victim.restarting:
            await victim.kill()
            await asyncio.sleep(self.restart_delay)
            await victim.start()
        return victim

    async def keep_alive(self, stop: asyncio.Event) -> None:
        """Restart whatever died on its own (a crash is a fault too)."""
        while not stop.is_set():
            for proc in self.processes:
                if not proc.alive() and not proc.restarting.locked():
                    async with proc.restarting:
                        await proc.start()
            await asyncio.sleep(0.5)

    async def stop_all(self) -> None:
        await asyncio.gather(*(p.terminate() for p in self.processes))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_env(base: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, **base}
