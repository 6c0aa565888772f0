"""CLI: `recstore tls issue`, the one-shot certificate step of docker-compose (a local CA and a
server certificate per service, renewed when due; see docs/OPERATIONS.md#tls).

Registered by `recstore.cli.main.build_parser`.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recstore.tls.errors import TLSConfigError


def _owner(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    uid, _, gid = text.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise TLSConfigError("--owner", "must be UID:GID, e.g. 999:999")
    return int(uid), int(gid)


async def cmd_tls_issue(args: argparse.Namespace) -> dict[str, Any]:
    from recstore.tls.local_ca import ensure_ca, ensure_leaf

    ca = ensure_ca(Path(args.ca_dir))
    out, owner = Path(args.out), _owner(args.owner)
    out.mkdir(parents=True, exist_ok=True, mode=0o755)
    issued = ensure_leaf(ca, out, args.name, args.host, owner=owner,
                         file_names=(args.cert_name or f"{args.name}.pem",
                                     args.key_name or f"{args.name}-key.pem"))
    result = {"cert_file": str(issued.cert_file), "key_file": str(issued.key_file),
              "ca_file": str(ca.cert_file)}
    if args.ca_copy:  # the CA certificate (never its key) beside the pair, for the peers
        target = out / args.ca_copy
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        shutil.copyfile(ca.cert_file, target)
        target.chmod(0o644)
        if owner is not None:
            os.chown(target, *owner)
        result["ca_copy"] = str(target)
    return result


def add_tls_commands(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    tls = sub.add_parser("tls", help="local CA and certificates").add_subparsers(
        dest="subcommand", required=True)
    issue = command("issue", cmd_tls_issue,
                    "make the local CA in --ca-dir once, and a server certificate for --host "
                    "in --out (re-issued when missing, due or for other hosts)",
                    parent=tls, data_dir=False)
    issue.add_argument("--ca-dir", required=True, help="where the CA and its key live (0700)")
    issue.add_argument("--out", required=True, help="directory for the certificate and key")
    issue.add_argument("--name", required=True, help="the service, e.g. minio")
    issue.add_argument("--host", action="append", required=True,
                       help="DNS name or IP address the certificate is for (repeatable)")
    issue.add_argument("--cert-name", help="file name of the certificate (default NAME.pem)")
    issue.add_argument("--key-name", help="file name of the key (default NAME-key.pem, mode 0600)")
    issue.add_argument("--owner", help="UID:GID to own the pair (PostgreSQL wants its key)")
    issue.add_argument("--ca-copy", help="also copy the CA certificate to OUT/CA_COPY")
