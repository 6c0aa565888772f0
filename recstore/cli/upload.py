"""CLI: `recstore upload FILE --customer ID`: sign (v2) and send one recording, as an
integrator's system would; for operators importing a file or checking a deployment."""

from __future__ import annotations

import argparse
import hashlib
import mimetypes
import ssl
import time
from pathlib import Path
from typing import Any

from recstore.cli.common import parse_id, settings_from_args, with_services
from recstore.errors import Invalid, RecstoreError

_PIECE = 1024 * 1024
_METADATA = (("caller", "X-Recstore-Caller"), ("caller_name", "X-Recstore-Caller-Name"),
             ("callee", "X-Recstore-Callee"), ("kind", "X-Recstore-Kind"),
             ("recorded_at", "X-Recstore-Recorded-At"), ("idempotency_key", "Idempotency-Key"))


def add_upload_command(sub: Any, command: Any) -> None:
    p = command("upload", cmd_upload, "sign and send one recording through the upload webhook",
                parent=sub)
    p.add_argument("file", type=Path)
    p.add_argument("--customer", required=True)
    p.add_argument("--caller")
    p.add_argument("--caller-name")
    p.add_argument("--callee")
    p.add_argument("--kind", choices=["call", "voicemail"])
    p.add_argument("--recorded-at", help="RFC 3339 time of the call")
    p.add_argument("--idempotency-key")
    p.add_argument("--content-type", help="default: guessed from the file name")
    p.add_argument("--url", help="recstore's base URL (default: the data dir's stack, or"
                                 " RECSTORE_PUBLIC_BASE_URL, or http://RECSTORE_HOST:PORT)")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while piece := source.read(_PIECE):
            digest.update(piece)
    return digest.hexdigest()


def _target(args: argparse.Namespace) -> tuple[str, ssl.SSLContext | None]:
    if getattr(args, "data_dir", None):
        from recstore.devstack.files import read_runtime

        runtime = read_runtime(Path(args.data_dir).resolve())
        ca_file = runtime.get("ca_file")
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        return args.url or runtime["url"], context
    if args.url:
        return args.url, None
    settings = settings_from_args(args)
    return settings.public_base_url or f"http://{settings.host}:{settings.port}", None


def upload_request_headers(args: argparse.Namespace, secret: str, body_sha256: str
                           ) -> dict[str, str]:
    from ingest.upload_signature import signed_headers

    content_type = args.content_type or mimetypes.guess_type(args.file.name)[0] or ""
    if not content_type.startswith("audio/"):
        raise Invalid("cannot tell the file's audio type: pass --content-type audio/...")
    headers = {"Content-Type": content_type}
    headers.update({name: getattr(args, attr) for attr, name in _METADATA
                    if getattr(args, attr)})
    return signed_headers(secret, parse_id(args.customer, "customer"), body_sha256=body_sha256,
                          timestamp=int(time.time()), headers=headers)


async def _webhook_secret(args: argparse.Namespace) -> str:
    from recstore.accounts.customers import customer_row, customer_secrets

    customer_id = parse_id(args.customer, "customer")

    async def run(svc: Any) -> str:
        async with svc.pool.acquire() as conn:
            row = await customer_row(conn, customer_id)
        secret: bytes = customer_secrets(svc.keys, row).webhook_secret
        return secret.decode()

    secret: str = await with_services(args, run)
    return secret


async def cmd_upload(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    if not args.file.is_file():
        raise Invalid(f"{args.file} is not a readable file")
    base, context = _target(args)
    secret = await _webhook_secret(args)
    headers = upload_request_headers(args, secret, _file_sha256(args.file))
    url = f"{base.rstrip('/')}/webhooks/upload/{parse_id(args.customer, 'customer')}"
    headers["Expect"] = "100-continue"  # a refusal comes before the file is sent
    async with aiohttp.ClientSession() as session:
        with args.file.open("rb") as body:
            async with session.post(url, data=body, headers=headers, ssl=context or True,
                                    expect100=True) as response:
                answer = await response.json(content_type=None)
    if response.status not in (200, 201):
        raise RecstoreError(f"upload refused ({response.status}): {answer.get('detail')}")
    return {"id": answer["id"], "status": response.status,
            "created": response.status == 201}
