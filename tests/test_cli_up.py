"""`recstore up` and the CLI as a user runs them: real processes, real signals, same data dir."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from factories import upload_headers, wav

ROOT = Path(__file__).resolve().parents[1]
RECSTORE = [sys.executable, "-m", "recstore.cli"]


class Up:
    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [*RECSTORE, "up", "--data-dir", str(data_dir), "--port", "0", "--json", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"recstore up printed nothing: {self.proc.stderr.read() if self.proc.stderr else ''}"
        self.info: dict[str, Any] = json.loads(line)
        self.url: str = self.info["url"]
        self.children = psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stderr:
            self.stderr = self.proc.stderr.read()
            self.proc.stderr.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def cli(*args: str, stdin: str | None = None) -> dict[str, Any]:
    done = subprocess.run([*RECSTORE, *args, "--json"], input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout  # --json prints exactly one object
    result: dict[str, Any] = json.loads(lines[0])
    return result


def http(method: str, url: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_up_serves_cli_works_and_restart_keeps_recordings(data_dir: Path) -> None:
    up = Up(data_dir)
    try:
        assert set(up.info) == {"url", "database_url", "admin_database_url", "s3_endpoint",
                                "s3_bucket", "s3_access_key", "s3_secret_key", "data_dir"}
        assert up.info["database_url"].startswith("postgresql://recstore_service@")
        assert up.info["admin_database_url"] != up.info["database_url"]
        assert up.url.startswith("http://127.0.0.1:")
        assert http("GET", f"{up.url}/healthz")[0] == 200
        assert http("GET", f"{up.url}/readyz")[0] == 200
        master = data_dir / "keys" / "master.keys"
        assert master.stat().st_mode & 0o777 == 0o600

        customer = cli("customer", "create", "--data-dir", str(data_dir), "--name", "Fika AB",
                       "--email", "ops@fika.example")
        assert set(customer) == {"customer_id", "webhook_secret"}
        user = cli("user", "create", "--data-dir", str(data_dir), "--customer",
                   customer["customer_id"], "--email", "anna@fika.example", "--role",
                   "customer_admin", "--password-stdin", stdin="a long demo password\n")
        assert set(user) == {"user_id"}
        staff = cli("staff", "create", "--data-dir", str(data_dir), "--email",
                    "sup@recstore.example", "--password-stdin", stdin="another long password\n")
        assert set(staff) == {"staff_id"}
        doctor = cli("doctor", "--data-dir", str(data_dir))
        assert doctor["ok"] is True
        assert doctor["checks"]["database"]["least_privileged"] is True
        assert doctor["checks"]["region"]["reported"] is None  # SeaweedFS proves no region
        assert doctor["checks"]["lifecycle_backstop"]["days"] == 100

        body = wav(1.5)
        status, created = http("POST", f"{up.url}/webhooks/upload/{customer['customer_id']}",
                               body, upload_headers(customer["webhook_secret"],
                                              customer["customer_id"], body))
        assert status == 201, created
        recording_id = json.loads(created)["id"]
    finally:
        assert up.stop() == 0
    for child in up.children:  # PostgreSQL and weed are gone with it
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE

    again = Up(data_dir)
    try:
        assert again.info["s3_endpoint"] == up.info["s3_endpoint"]  # same port: clients keep it
        status, token_body = http("POST", f"{again.url}/api/v1/auth/login",
                                  json.dumps({"email": "anna@fika.example",
                                              "password": "a long demo password"}).encode(),
                                  {"Content-Type": "application/json"})
        assert status == 200
        auth = {"Authorization": f"Bearer {json.loads(token_body)['access_token']}"}
        status, audio = http("GET", f"{again.url}/api/v1/recordings/{recording_id}/audio",
                             headers=auth)
        assert status == 200 and audio == body
    finally:
        assert again.stop() == 0


def test_demo_seeds_a_customer_with_voicemails(data_dir: Path) -> None:
    up = Up(data_dir, "--demo")
    try:
        demo = json.loads((data_dir / "demo.json").read_text())
        assert (data_dir / "demo.json").stat().st_mode & 0o777 == 0o600
        status, token_body = http("POST", f"{up.url}/api/v1/auth/login",
                                  json.dumps({"email": demo["email"],
                                              "password": demo["password"]}).encode(),
                                  {"Content-Type": "application/json"})
        assert status == 200
        auth = {"Authorization": f"Bearer {json.loads(token_body)['access_token']}"}
        listing = json.loads(http("GET", f"{up.url}/api/v1/recordings", headers=auth)[1])
        assert len(listing["items"]) == 2
        assert {item["caller_number"] for item in listing["items"]} == {"+46701234567",
                                                                         "+46707654321"}
    finally:
        assert up.stop() == 0


def test_readme_walkthrough_runs_as_written(data_dir: Path, tmp_path: Path) -> None:
    """The README's curl walkthrough, command by command, against a live `recstore up`."""
    block = re.search(r"## Five-minute walkthrough.*?```sh\n(.*?)```",
                      (ROOT / "README.md").read_text(), re.S)
    assert block is not None
    up = Up(data_dir)
    try:
        script = (block.group(1)
                  .replace("RS=.venv/bin/recstore", f"RS='{sys.executable} -m recstore.cli'")
                  .replace("URL=http://127.0.0.1:8080", f"URL={up.url}")
                  .replace("--data-dir .recstore", f"--data-dir {data_dir}"))
        work = tmp_path / "walk"
        work.mkdir()
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        assert done.returncode == 0, done.stderr
        assert "identical" in done.stdout
        assert done.stdout.strip().endswith("44")  # the ranged request returned 44 bytes
        assert '"caller_number": "+46701234567"' in done.stdout  # found via the blind index
    finally:
        assert up.stop() == 0


def test_cli_refuses_a_data_dir_without_a_running_stack(tmp_path: Path) -> None:
    done = subprocess.run([*RECSTORE, "customer", "create", "--data-dir", str(tmp_path),
                           "--name", "X", "--email", "x@example.com", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode != 0
    assert "recstore up" in done.stderr
    assert "recstore up" in json.loads(done.stdout)["error"]  # --json: the error as JSON too


def test_production_commands_refuse_a_non_eu_region(tmp_path: Path) -> None:
    env = {**os.environ, "RECSTORE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
           "RECSTORE_S3_ENDPOINT": "http://127.0.0.1:1", "RECSTORE_S3_ACCESS_KEY": "a",
           "RECSTORE_S3_SECRET_KEY": "super-secret-value", "RECSTORE_S3_REGION": "us-east-1",
           "RECSTORE_MASTER_KEYS": "k:" + "A" * 43 + "=",
           "RECSTORE_EPOCH_KEYS_FILE": str(tmp_path / "e.json"),
           "RECSTORE_JWT_PRIVATE_KEY_FILE": str(tmp_path / "j.pem")}
    for command in ("serve", "worker", "migrate"):
        done = subprocess.run([*RECSTORE, command], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60, check=False)
        assert done.returncode == 2
        assert "RECSTORE_S3_REGION" in done.stderr and "not an EU region" in done.stderr
        assert "super-secret-value" not in done.stderr + done.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_production_migrate_serve_and_worker(stack: Any, tmp_path: Path) -> None:
    """The docker-compose path, minus Docker: RECSTORE_* variables only."""
    from recstore.devstack.stack import APP_ROLE, as_role, create_database

    jwt_key = tmp_path / "jwt.pem"
    port = _free_port()
    owner_dsn = create_database(stack, f"prod_{os.getpid()}")
    env = {**os.environ,
           "RECSTORE_DATABASE_URL": as_role(owner_dsn, APP_ROLE),
           "RECSTORE_ADMIN_DATABASE_URL": owner_dsn,
           "RECSTORE_S3_ENDPOINT": stack.s3_endpoint,
           "RECSTORE_S3_ACCESS_KEY": stack.s3_access_key,
           "RECSTORE_S3_SECRET_KEY": stack.s3_secret_key,
           "RECSTORE_S3_BUCKET": "prod-bucket", "RECSTORE_S3_REGION": "eu-north-1",
           "RECSTORE_MASTER_KEYS": "k1:" + "B" * 43 + "=",
           "RECSTORE_INGEST_KEYS": "i1:" + "C" * 43 + "=",
           "RECSTORE_STAFF_KEY_FILE": str(tmp_path / "staff.key"),
           "RECSTORE_EPOCH_KEYS_FILE": str(tmp_path / "epochs.json"),
           "RECSTORE_JWT_PRIVATE_KEY_FILE": str(jwt_key), "RECSTORE_PORT": str(port)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*RECSTORE, *args], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=60, check=False)

    refused = subprocess.Popen([*RECSTORE, "serve"], env=env, cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = refused.communicate(timeout=60)
    assert refused.returncode == 1 and "recstore migrate" in err  # schema first

    assert run("keys", "init-jwt", "--json").returncode == 0
    assert run("keys", "init-staff", "--json").returncode == 0
    assert jwt_key.stat().st_mode & 0o777 == 0o600
    migrated = run("migrate", "--json")
    assert migrated.returncode == 0, migrated.stderr
    assert json.loads(migrated.stdout)["applied"]
    assert json.loads(run("migrate", "--json").stdout)["applied"] == []

    # serve has a metrics port of its own too: one port each, or the second cannot bind.
    metrics_ports = {"serve": _free_port(), "worker": _free_port()}
    metrics_port = metrics_ports["worker"]
    processes = [subprocess.Popen([*RECSTORE, command], cwd=ROOT, text=True,
                                  env={**env, "RECSTORE_METRICS_PORT": str(metrics_ports[command])},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for command in ("serve", "worker")]
    try:
        for listener in (port, metrics_port):
            deadline = time.monotonic() + 30
            status = 0
            while time.monotonic() < deadline and status != 200:
                try:
                    status = http("GET", f"http://127.0.0.1:{listener}/readyz")[0]
                except OSError:
                    time.sleep(0.2)
            assert status == 200, listener
        # The worker exposes health and metrics only, never the API.
        status, metrics = http("GET", f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200 and b"recstore_" in metrics
        assert http("GET", f"http://127.0.0.1:{metrics_port}/api/v1/recordings")[0] == 404
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            assert proc.wait(timeout=30) == 0
            assert proc.stderr is not None
            logs = proc.stderr.read()
            proc.stderr.close()
            assert stack.s3_secret_key not in logs


@pytest.mark.parametrize("argv", [
    ["user", "create", "--customer", "not-a-uuid", "--email", "a@b.example",
     "--role", "customer_user", "--password-stdin"],
    ["customer", "erasure-status", "not-a-uuid"],
    ["jobs", "retry", "not-a-uuid"],
])
def test_malformed_ids_are_plain_not_found_errors(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([*RECSTORE, *argv, "--json"], input="a long enough password\n",
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("recstore: no such ") and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"].startswith("no such ")  # --json: as JSON too
