"""`recstore up`: the whole service on an embedded PostgreSQL and S3 server, for development."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

from recstore.bootstrap import prepare_storage
from recstore.custody.ingest_keyring import rewrap_ingest_secrets
from recstore.devstack.files import clear_runtime, ensure_dev_keys, settings_for, write_runtime
from recstore.devstack.processes import EmbeddedStackError
from recstore.devstack.stack import SERVICE_BUCKET, EmbeddedStack
from recstore.errors import RecstoreError
from recstore.logging_setup import configure
from recstore.runner import run_services
from recstore.services import open_services
from recstore.tls.policy import preflight
from recstore.tls.server import server_tls_for

log = logging.getLogger("recstore.up")


class StackFailed(RecstoreError):
    title = "The embedded stack did not start"


async def run_up(data_dir: Path, *, host: str, port: int, as_json: bool, demo: bool,
                 tls: bool = False) -> None:
    """``tls``: HTTPS only, and S3 and PostgreSQL over TLS verified against a local CA under
    ``data_dir/tls`` (`recstore.devstack.tls`)."""
    configure("INFO", json=as_json)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    ensure_dev_keys(data_dir)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    stack = EmbeddedStack(data_dir, tls=tls)
    try:
        try:
            info = await asyncio.to_thread(stack.start)
        except EmbeddedStackError as exc:  # its message says which server and why
            raise StackFailed(str(exc)) from None
        runtime = {"database_url": info.app_database_url,
                   "admin_database_url": info.database_url, "s3_endpoint": info.s3_endpoint,
                   "s3_bucket": SERVICE_BUCKET, "s3_access_key": info.s3_service_access_key,
                   "s3_secret_key": info.s3_service_secret_key,
                   "s3_admin_access_key": info.s3_access_key,
                   "s3_admin_secret_key": info.s3_secret_key, "data_dir": str(data_dir)}
        if info.ca_file is not None:
            from recstore.devstack.tls import ensure_stack_tls

            api_cert = ensure_stack_tls(data_dir).api(host)
            runtime.update({"ca_file": str(info.ca_file), "s3_ca_file": str(info.ca_file),
                            "tls_cert_file": str(api_cert.cert_file),
                            "tls_key_file": str(api_cert.key_file)})
        settings = settings_for(data_dir, runtime, host=host, port=port, log_json=as_json)
        server_tls = server_tls_for(settings.tls_cert_file, settings.tls_key_file)
        await preflight(settings, api=True, worker=True)
        await prepare_storage(settings)
        async with open_services(settings) as svc:
            await rewrap_ingest_secrets(svc.pool, svc.keys)
            demo_text = None
            if demo:
                from recstore.devstack.demo import seed_demo

                demo_text = await seed_demo(svc, data_dir)

            async def announce(url: str) -> None:
                write_runtime(data_dir, {**runtime, "url": url})
                if as_json:
                    print(json.dumps({"url": url, **{k: runtime[k] for k in (
                        "database_url", "admin_database_url", "s3_endpoint", "s3_bucket", "s3_access_key",
                        "s3_secret_key", "data_dir")},
                        **({"ca_file": runtime["ca_file"]} if "ca_file" in runtime else {})}),
                        flush=True)
                else:
                    print(f"recstore is up at {url} (data in {data_dir}); Ctrl-C stops it.",
                          flush=True)
                    if demo_text:
                        print(demo_text.replace("{url}", url), flush=True)

            await run_services(svc, api=True, worker=True, host=host, port=port, stop=stop,
                               on_ready=announce, tls=server_tls)
    finally:
        clear_runtime(data_dir)
        await asyncio.to_thread(stack.stop)
