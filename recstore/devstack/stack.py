"""Real PostgreSQL (pgserver) and real S3 (SeaweedFS ``weed mini``) for `recstore up`, tests and CI.

Layout under ``data_dir`` (created with mode 0700)::

    pg/                 PostgreSQL cluster; Unix socket only, no TCP listener
    s3/                 weed data (volumes, filer store, master metadata)
    logs/weed.log       weed output (mode 0600); logs/postgres.log links to pg/log
    credentials.json    generated S3 admin access key + secret (mode 0600), reused on later starts
    credentials-service.json   the same for the service's least-privileged S3 identity
    .embedded.lock      held (flock) while a stack runs, so two stacks never share a data dir

Both servers stay up while the stack runs and are stopped by `EmbeddedStack.stop()` (also from
an ``atexit`` safety net). A stack left behind by a crashed process is recovered on the next
`start()`: its weed is stopped and its PostgreSQL is adopted (or its stale lock files removed).
The PostgreSQL side lives in `recstore.devstack.postgres`, the S3 side in `recstore.devstack.s3`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import fcntl
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from recstore.devstack.processes import EmbeddedStackError

if TYPE_CHECKING:
    from recstore.devstack.postgres import EmbeddedPostgres
    from recstore.devstack.s3 import EmbeddedS3

LOG = logging.getLogger("recstore.embedded")

_T = TypeVar("_T")
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


# The login role `serve` and `worker` use (a member of recstore_app, see migration 0004);
# the superuser in database_url owns the schema and runs migrations.
APP_ROLE = "recstore_service"
# The bucket `recstore up` uses, the only one the S3 service identity may touch.
SERVICE_BUCKET = "recstore"
_CREATE_APP_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recstore_app') THEN
        CREATE ROLE recstore_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'recstore_service') THEN
        CREATE ROLE recstore_service LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
            NOBYPASSRLS IN ROLE recstore_app;
    END IF;
END;
$$;
"""


@dataclass(frozen=True)
class StackInfo:
    data_dir: Path
    database_url: str  # asyncpg-usable URI to the "postgres" database over the Unix socket
    s3_endpoint: str  # "http://127.0.0.1:<port>"
    s3_access_key: str
    s3_secret_key: str = field(repr=False)  # the admin identity: buckets, lifecycle, policy
    ca_file: Path | None = None  # with tls: the local CA both servers' certificates chain to
    # The service's identity: objects in SERVICE_BUCKET only (recstore.devstack.s3.identities).
    s3_service_access_key: str = ""
    s3_service_secret_key: str = field(default="", repr=False)

    @property
    def app_database_url(self) -> str:
        """The same database as the least-privileged app role (see `APP_ROLE`)."""
        return as_role(self.database_url, APP_ROLE)


class EmbeddedStack:
    """Real PostgreSQL (pgserver) + real S3 (weed mini) under data_dir; loopback only."""

    def __init__(self, data_dir: Path, *, weed_binary: Path | None = None, tls: bool = False) -> None:
        """``tls``: both servers speak TLS only, with certificates of a local CA under
        ``data_dir/tls`` (see `recstore.devstack.tls`); PostgreSQL then listens on loopback TCP."""
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.tls = tls
        self._weed_binary = weed_binary
        self._pg: EmbeddedPostgres | None = None
        self._s3: EmbeddedS3 | None = None
        self._lock_fd: int | None = None
        self._info: StackInfo | None = None
        self._stopping = False
        self._atexit_registered = False

    # -- public API -------------------------------------------------------------------------

    @property
    def info(self) -> StackInfo | None:
        return self._info

    @property
    def postgres_pid(self) -> int | None:
        return self._pg.pid if self._pg else None

    @property
    def weed_pid(self) -> int | None:
        return self._s3.pid if self._s3 else None

    @property
    def s3_ports(self) -> dict[str, int]:
        """Ports given to weed's listeners (each also has a gRPC twin at port + 10000)."""
        return dict(self._s3.ports) if self._s3 else {}

    # -- fault injection (`make faults`): stop and start one server under a running stack --

    def stop_s3(self) -> None:
        if self._s3 is not None:
            self._s3.stop()

    def start_s3(self, *, timeout: float = 60.0) -> None:
        """Start the S3 server again; it takes its previous ports, so the endpoint holds."""
        assert self._s3 is not None and self._info is not None
        endpoint = self._s3.start(time.monotonic() + timeout)
        if endpoint != self._info.s3_endpoint:
            raise EmbeddedStackError("the S3 server came back on another port")

    def restart_postgres(self, *, timeout: float = 60.0) -> None:
        assert self._pg is not None
        self._pg.stop()
        self._pg.start(time.monotonic() + timeout)

    def start(self, *, timeout: float = 90.0) -> StackInfo:
        """Start both servers (blocking) and return how to reach them; a no-op if already up."""
        from recstore.devstack.postgres import EmbeddedPostgres
        from recstore.devstack.s3 import EmbeddedS3, ServiceIdentity

        if self._info is not None:
            if self._healthy():
                return self._info
            LOG.warning("embedded stack in %s lost a server; restarting it", self.data_dir)
            self.stop()
        started = time.monotonic()
        deadline = started + timeout
        try:
            self._prepare_dirs()
            self._lock_data_dir()
            access_key, secret_key = _load_or_create_credentials(self.data_dir / "credentials.json")
            service_key, service_secret = _load_or_create_credentials(
                self.data_dir / "credentials-service.json")
            if not self._atexit_registered:
                atexit.register(self._stop_at_exit)
                self._atexit_registered = True
            stack_tls = None
            if self.tls:
                from recstore.devstack.tls import ensure_stack_tls

                stack_tls = ensure_stack_tls(self.data_dir, roles=("postgres", APP_ROLE))
            self._pg = EmbeddedPostgres(self.data_dir / "pg", self.data_dir / "logs" / "postgres.log",
                                        tls=stack_tls.postgres if stack_tls else None)
            database_url = self._pg.start(deadline)
            # pgserver running as root grants o+rx on the data dir's ancestors so its `pgserver`
            # user can reach pg/; keep only traversal for others, or nothing when not needed.
            pg_owner = (self.data_dir / "pg").stat().st_uid
            self.data_dir.chmod(0o700 if pg_owner == os.getuid() else 0o711)
            self._s3 = EmbeddedS3(self.data_dir / "s3", self.data_dir / "logs" / "weed.log",
                                  access_key, secret_key, binary=self._weed_binary,
                                  service=ServiceIdentity(service_key, service_secret,
                                                          SERVICE_BUCKET),
                                  tls=(stack_tls.s3.cert_file, stack_tls.s3.key_file,
                                       stack_tls.ca.cert_file) if stack_tls else None)
            s3_endpoint = self._s3.start(deadline)
        except BaseException:
            self.stop()
            raise
        info = StackInfo(self.data_dir, database_url, s3_endpoint, access_key, secret_key,
                         stack_tls.ca.cert_file if stack_tls else None, service_key,
                         service_secret)
        try:
            _admin(info, _CREATE_APP_ROLE)
        except BaseException:
            self.stop()
            raise
        self._info = info
        LOG.info("embedded stack up in %.1fs: postgres pid %s, s3 %s (weed pid %s), data in %s",
                 time.monotonic() - started, self.postgres_pid, s3_endpoint, self.weed_pid,
                 self.data_dir)
        return self._info

    def stop(self) -> None:
        """Stop weed (SIGTERM, 10 s, SIGKILL) and PostgreSQL (fast shutdown). Safe to repeat."""
        if self._stopping:  # re-entered from a signal handler while stopping: let that finish
            return
        self._stopping = True
        started = time.monotonic()
        had_servers = self._s3 is not None or self._pg is not None
        try:
            self._info = None
            if self._s3 is not None:
                try:
                    self._s3.stop()
                    self._s3 = None
                except Exception:
                    LOG.exception("stopping the embedded S3 server failed")
            if self._pg is not None:
                try:
                    self._pg.stop()
                    self._pg = None
                except Exception:
                    LOG.exception("stopping the embedded PostgreSQL failed")
            if self._s3 is None and self._pg is None:
                self._unlock_data_dir()
                if self._atexit_registered:
                    atexit.unregister(self._stop_at_exit)
                    self._atexit_registered = False
        finally:
            self._stopping = False
        if had_servers:
            LOG.info("embedded stack in %s stopped in %.1fs", self.data_dir, time.monotonic() - started)

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- internals --------------------------------------------------------------------------

    def _stop_at_exit(self) -> None:
        if self._s3 is not None or self._pg is not None:
            LOG.warning("embedded stack in %s still running at exit; stopping it", self.data_dir)
            self.stop()

    def _healthy(self) -> bool:
        return bool(self._pg and self._pg.running() and self._s3 and self._s3.running())

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # widened to 0711 after PostgreSQL starts if pgserver needs it
        for sub in ("s3", "logs"):
            path = self.data_dir / sub
            path.mkdir(mode=0o700, exist_ok=True)
            path.chmod(0o700)

    def _lock_data_dir(self) -> None:
        if self._lock_fd is not None:
            return
        path = self.data_dir / ".embedded.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise EmbeddedStackError(
                f"another embedded stack (pid {holder}) is running in {self.data_dir}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _unlock_data_dir(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None


def _load_or_create_credentials(path: Path) -> tuple[str, str]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        access_key, secret_key = secrets.token_urlsafe(16), secrets.token_urlsafe(32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(out, "w") as f:
            json.dump({"s3_access_key": access_key, "s3_secret_key": secret_key}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        LOG.info("generated S3 credentials in %s", path)
        return access_key, secret_key
    with os.fdopen(fd) as f:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
            LOG.warning("%s was readable by others; set it to mode 0600", path)
        try:
            data: Any = json.load(f)
            access_key, secret_key = data["s3_access_key"], data["s3_secret_key"]
        except (ValueError, KeyError, TypeError):
            raise EmbeddedStackError(f"{path} is not a valid credentials file; move it away to "
                                     "generate new S3 credentials") from None
    if not (isinstance(access_key, str) and isinstance(secret_key, str) and access_key and secret_key):
        raise EmbeddedStackError(f"{path} has empty or non-string S3 credentials")
    return access_key, secret_key


# -- databases in the embedded cluster ---------------------------------------------------------

def database_url(info: StackInfo, name: str) -> str:
    """The DSN of database ``name`` in the stack's cluster (same socket, same user)."""
    parts = urlsplit(info.database_url)
    return parts._replace(path="/" + quote(name)).geturl()


def as_role(dsn: str, role: str) -> str:
    """``dsn`` with its user replaced by ``role`` (the embedded cluster trusts its socket)."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{quote(role)}@{host}").geturl()


def _run_sync(make: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine to completion from sync code, even when an event loop is running here."""
    async def runner() -> _T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="recstore-embedded") as pool:
        return pool.submit(asyncio.run, runner()).result()


def _admin(info: StackInfo, sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(info.database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    _run_sync(run)


def _check_name(name: str) -> str:
    if not _DB_NAME.fullmatch(name) or name in {"postgres", "template0", "template1"}:
        raise ValueError(f"invalid database name {name!r}: use [a-z_][a-z0-9_]*, at most 63 chars")
    return name


def create_database(info: StackInfo, name: str) -> str:
    """Create an empty database ``name`` in the stack's cluster and return its DSN.

    Raises asyncpg.DuplicateDatabaseError if it exists (drop_database first to reuse a name).
    """
    _admin(info, f'CREATE DATABASE "{_check_name(name)}"')
    return database_url(info, name)


def drop_database(info: StackInfo, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting any sessions still using it."""
    _admin(info, f'DROP DATABASE IF EXISTS "{_check_name(name)}" WITH (FORCE)')
