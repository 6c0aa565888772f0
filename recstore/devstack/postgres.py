"""PostgreSQL from the pgserver wheel, for `recstore.devstack.stack`: Unix socket only, no TCP.

pgserver facts this relies on (pgserver 0.1.4, read from its source):
- ``get_server(path, cleanup_mode=None)`` runs initdb on first use, starts ``postgres -h "" -k
  <socket dir>`` through ``pg_ctl`` (daemonised: it outlives this process), and never stops it.
  So `EmbeddedPostgres.stop()` stops it itself (SIGINT = fast shutdown, as ``pg_ctl -m fast``).
- It adopts a server already running for that data dir, judged only by "the pid in
  postmaster.pid exists": a stale pid file whose pid was reused would be "adopted". Stale lock
  files are therefore removed here first, when no postmaster for the data dir is running.
- Its inter-process lock is one class-level fasteners lock object, which is not thread-safe
  ("Unable to release an unaquired lock" when two threads start servers): calls into pgserver
  are serialised here with a process-wide lock.
- It caches one handle per path for the life of the process and registers an ``atexit`` hook;
  both are dropped on stop() so the same data dir can be started again in this process.
- Run as root it creates a system user ``pgserver`` (useradd), chowns the cluster to it and adds
  o+rx to every ancestor directory of the cluster.
- The socket goes in the cluster dir; only when that path is too long for a Unix socket does it
  go under the user runtime dir (made mode 0777 when root), so the socket itself is set to 0700.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psutil

from recstore.devstack.processes import (
    EmbeddedStackError,
    log_tail,
    process_alive,
    unlink_quietly,
    wait_until,
)

if TYPE_CHECKING:
    from recstore.devstack.postgres_tls import PostgresTLS

LOG = logging.getLogger("recstore.embedded")

_CONF_MARK = "# recstore.devstack.stack: settings below are managed by recstore"
_CONF = f"\n{_CONF_MARK}\nlisten_addresses = ''\nunix_socket_permissions = 0700\n"
_FAST_STOP_WAIT = 10.0
_PGSERVER_LOCK = threading.Lock()


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns at pgserver's import when XDG_RUNTIME_DIR is unset (harmless);
        # the test suite turns warnings into errors.
        warnings.simplefilter("ignore")
        import pgserver
    quiet = logging.getLogger("pgserver")
    if quiet.level == logging.NOTSET:  # it logs every command line and its output at INFO
        quiet.setLevel(logging.WARNING)
    return pgserver


def _is_postmaster_of(proc: psutil.Process, pg_dir: Path) -> bool | None:
    """True/False whether ``proc`` is the postmaster of ``pg_dir``; None if that cannot be told."""
    try:
        if not process_alive(proc) or proc.name() != "postgres":
            return False
        cmd = proc.cmdline()
    except psutil.AccessDenied:
        return None
    except psutil.Error:
        return False
    return any(a == "-D" and b == str(pg_dir) for a, b in itertools.pairwise(cmd))


def find_postmaster(pg_dir: Path) -> psutil.Process | None:
    """The running postmaster whose data dir is ``pg_dir``, if any (backends do not match)."""
    for proc in psutil.process_iter():
        if _is_postmaster_of(proc, pg_dir):
            return proc
    return None


class EmbeddedPostgres:
    def __init__(self, pg_dir: Path, log_link: Path,
                 tls: Callable[[Path], PostgresTLS] | None = None) -> None:
        """``tls`` places the TLS files in the cluster dir and says how to start it: the cluster
        is then run by `recstore.devstack.postgres_tls` (pgserver's build has no OpenSSL)."""
        self.pg_dir = pg_dir
        self.log_link = log_link
        self._tls_setup = tls
        self._server: Any = None
        self._proc: psutil.Process | None = None
        self._attempted = False

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def running(self) -> bool:
        return self._proc is not None and process_alive(self._proc)

    def start(self, deadline: float) -> str:
        """Start (or adopt) the server and return an asyncpg DSN for database "postgres"."""
        self._attempted = True
        if self._tls_setup is not None:
            from recstore.devstack.postgres_tls import start_with_tls

            if (self.pg_dir / "PG_VERSION").exists():
                self._clear_stale_lock_files()
            self._proc, dsn = start_with_tls(self.pg_dir, self._tls_setup, deadline,
                                             find_postmaster=find_postmaster, pgserver=_pgserver())
            self._link_log()
            return dsn
        if (self.pg_dir / "PG_VERSION").exists():
            self._clear_stale_lock_files()
            self._ensure_conf()
        if time.monotonic() > deadline:
            raise EmbeddedStackError("timed out before starting PostgreSQL")
        try:
            with _PGSERVER_LOCK:
                self._server = _pgserver().get_server(self.pg_dir, cleanup_mode=None)
            info = self._server.get_postmaster_info()
            proc = psutil.Process(info.pid)
        except Exception as exc:
            self._forget_pgserver_handle()
            raise EmbeddedStackError(
                f"PostgreSQL did not start in {self.pg_dir}: {type(exc).__name__}: {exc}\n"
                f"last lines of {self.pg_dir / 'log'}:\n{log_tail(self.pg_dir / 'log')}") from exc
        if _is_postmaster_of(proc, self.pg_dir) is False:  # never signal a stranger in stop()
            raise EmbeddedStackError(f"pgserver took pid {proc.pid} for the PostgreSQL of {self.pg_dir}, "
                                     "but it is not; remove its postmaster.pid if no server runs")
        self._proc = proc
        if info.socket_dir is None or info.hostname:
            raise EmbeddedStackError(f"PostgreSQL in {self.pg_dir} listens on TCP ({info.hostname}:"
                                     f"{info.port}); expected a Unix socket only")
        socket_dir = Path(info.socket_dir)
        port = int(info.port or 5432)
        if self._ensure_conf() or socket_dir != self.pg_dir:
            # New cluster (settings apply from the next start) or socket outside the private
            # cluster dir: restrict the socket now.
            with contextlib.suppress(OSError):
                (socket_dir / f".s.PGSQL.{port}").chmod(0o700)
        self._link_log()
        return (f"postgresql://postgres@/postgres?host={quote(str(socket_dir), safe='/')}"
                f"&port={port}")

    def stop(self) -> None:
        proc = self._proc
        if proc is None and self._attempted:  # start failed halfway: maybe a server is up anyway
            proc = find_postmaster(self.pg_dir)
        if proc is not None and process_alive(proc):
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)  # fast shutdown
            if not wait_until(lambda: not process_alive(proc), _FAST_STOP_WAIT):
                LOG.warning("PostgreSQL (pid %d) still up %.0fs after fast shutdown; "
                            "immediate shutdown", proc.pid, _FAST_STOP_WAIT)
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGQUIT)
                if not wait_until(lambda: not process_alive(proc), 5.0):
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
                    wait_until(lambda: not process_alive(proc), 5.0)
            if process_alive(proc):
                raise EmbeddedStackError(f"PostgreSQL (pid {proc.pid}) did not stop")
        self._forget_pgserver_handle()
        self._proc = None
        self._attempted = False

    # -- internals --------------------------------------------------------------------------

    def _clear_stale_lock_files(self) -> None:
        pid_file = self.pg_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            pid = 0
        if pid > 0:
            try:
                verdict = _is_postmaster_of(psutil.Process(pid), self.pg_dir)
            except psutil.Error:
                verdict = False
            if verdict is not False:
                LOG.info("PostgreSQL (pid %d) from an earlier run still serves %s; adopting it",
                         pid, self.pg_dir)
                return
        if find_postmaster(self.pg_dir) is not None:
            return
        LOG.warning("removing stale postmaster.pid (pid %d is not a PostgreSQL for %s)", pid, self.pg_dir)
        unlink_quietly(pid_file)
        for leftover in self.pg_dir.glob(".s.PGSQL.*"):
            unlink_quietly(leftover)

    def _ensure_conf(self) -> bool:
        """Add our settings to postgresql.conf once; True if they were added just now."""
        conf = self.pg_dir / "postgresql.conf"
        try:
            if _CONF_MARK in conf.read_text():
                return False
            with conf.open("a") as f:
                f.write(_CONF)
        except FileNotFoundError:
            return False
        return True

    def _link_log(self) -> None:
        if not self.log_link.is_symlink() and not self.log_link.exists():
            with contextlib.suppress(OSError):
                self.log_link.symlink_to(os.path.relpath(self.pg_dir / "log", self.log_link.parent))

    def _forget_pgserver_handle(self) -> None:
        """Drop pgserver's per-process cache and atexit hook so a later start is a real start."""
        cls = _pgserver().PostgresServer
        with _PGSERVER_LOCK:
            server = cls._instances.pop(self.pg_dir.resolve(), None) or self._server
        self._server = None
        if server is None:
            return
        atexit.unregister(server._cleanup)
        with contextlib.suppress(OSError, ValueError):
            server.global_process_id_list.get_and_remove(os.getpid())
