"""TLS material of `recstore up --tls`: a local CA under ``<data dir>/tls/`` and a certificate
for each server, made on first start and renewed before they expire.

    tls/ca.pem, ca-key.pem          the local CA (trusted by recstore for S3 and PostgreSQL)
    tls/api.pem, api-key.pem        the HTTPS listener (127.0.0.1, localhost, ::1 and --host)
    tls/s3.pem, s3-key.pem          weed's S3 listener
    tls/pg-client.pem, -key.pem     recstore's client certificate for PostgreSQL
    pg/server.pem, server-key.pem   PostgreSQL's own (inside its cluster dir, owned by its user)

PostgreSQL listens on 127.0.0.1 with `hostssl ... cert` only: a client needs the client key
(mode 0600 in this data dir) as well as TLS, so opening a TCP port gives other local users
nothing they could not reach before through the 0700 socket.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from recstore.devstack.postgres_tls import PostgresTLS
from recstore.devstack.processes import EmbeddedStackError
from recstore.tls.local_ca import Issued, LocalCA, ensure_ca, ensure_leaf, write_file

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
CLIENT_NAME = "recstore-client"
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+-]+")
_HBA = """# recstore up --tls: TLS with a client certificate on loopback, nothing else over TCP
hostssl  all  all  127.0.0.1/32   cert map=recstore
hostssl  all  all  ::1/128        cert map=recstore
host     all  all  0.0.0.0/0      reject
host     all  all  ::/0           reject
"""


@dataclass(frozen=True)
class StackTLS:
    directory: Path
    ca: LocalCA
    s3: Issued
    pg_client: Issued
    # The roles the client certificate may log in as, one pg_ident line each (PostgreSQL 15
    # has no "all" there): the superuser that migrates and the app role of serve and worker.
    roles: tuple[str, ...] = ("postgres",)

    def api(self, host: str) -> Issued:
        wildcard = host in {"0.0.0.0", "::", ""}  # noqa: S104  (names no host to certify)
        hosts = [*LOOPBACK_HOSTS, *([] if wildcard or host in LOOPBACK_HOSTS else [host])]
        return ensure_leaf(self.ca, self.directory, "api", hosts)

    def postgres(self, pg_dir: Path) -> PostgresTLS:
        """Place PostgreSQL's certificate, CA and auth files in its cluster dir (owned by the
        cluster's user: it refuses a key it does not own) and say how to start and reach it."""
        if not _SAFE_PATH.fullmatch(str(pg_dir)):
            raise EmbeddedStackError(f"--tls needs a data dir path without spaces or quotes: {pg_dir}")
        st = pg_dir.stat()
        owner = (st.st_uid, st.st_gid)
        ensure_leaf(self.ca, pg_dir, "server", LOOPBACK_HOSTS, owner=owner)
        shutil.copyfile(self.ca.cert_file, pg_dir / "root-ca.pem")
        ident = "".join(f"recstore  {CLIENT_NAME}  {role}\n" for role in self.roles)
        for name, text in (("recstore_hba.conf", _HBA), ("recstore_ident.conf", ident)):
            write_file(pg_dir / name, text.encode(), 0o600)
        for name in ("root-ca.pem", "recstore_hba.conf", "recstore_ident.conf"):
            os.chown(pg_dir / name, *owner)
        options = " ".join([
            "-c ssl=on", "-c ssl_cert_file=server.pem", "-c ssl_key_file=server-key.pem",
            "-c ssl_ca_file=root-ca.pem", "-c ssl_min_protocol_version=TLSv1.2",
            f"-c hba_file={pg_dir / 'recstore_hba.conf'}",
            f"-c ident_file={pg_dir / 'recstore_ident.conf'}",
        ])
        params = {"sslmode": "verify-full", "sslrootcert": str(self.ca.cert_file),
                  "sslcert": str(self.pg_client.cert_file), "sslkey": str(self.pg_client.key_file)}
        return PostgresTLS(_free_port(), options, params)


def ensure_stack_tls(data_dir: Path, roles: tuple[str, ...] = ("postgres",)) -> StackTLS:
    directory = data_dir / "tls"
    ca = ensure_ca(directory)
    return StackTLS(directory, ca, ensure_leaf(ca, directory, "s3", LOOPBACK_HOSTS),
                    ensure_leaf(ca, directory, "pg-client", [CLIENT_NAME], client=True), roles)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
