"""docker-compose's TLS, checked without Docker: every recstore link is verified TLS, each
server gets its certificate from the one-shot step, and PostgreSQL refuses plain TCP."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509

from recstore.tls.links import postgres_link, url_link

ROOT = Path(__file__).resolve().parents[1]
RECSTORE_SERVICES = ("setup", "api", "worker", "api-replica")  # api-replica: profile `scale`


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_every_recstore_link_in_compose_is_verified_tls() -> None:
    services = _compose()["services"]
    for name in RECSTORE_SERVICES:
        env = services[name]["environment"]
        assert env["RECSTORE_REQUIRE_TLS"] == "true"
        assert url_link("s3", "", env["RECSTORE_S3_ENDPOINT"]).transport == "tls"
        assert env["RECSTORE_S3_CA_FILE"] == "/tls/ca.pem"
        dsns = [env["RECSTORE_DATABASE_URL"], env.get("RECSTORE_ADMIN_DATABASE_URL")]
        for dsn in filter(None, dsns):
            link = postgres_link("postgres", "", re.sub(r"\$\{[^}]*\}", "secret", dsn))
            assert link.transport == "tls" and link.verified, dsn
        assert env["RECSTORE_TLS_CERT_FILE"] and env["RECSTORE_TLS_KEY_FILE"]
        assert "tls-recstore:/tls:ro" in services[name]["volumes"]
        assert "https://" in " ".join(map(str, services[name].get("healthcheck", {}).get(
            "test", ["https://"])))
    assert services["api"]["ports"] == ["8443:8443"]
    for node in ("minio", "minio2", "minio3", "minio4"):  # minio2-4: profile `scale`
        assert "--certs-dir" in services[node]["command"]
    assert "ssl=on" in services["postgres"]["command"]
    for name in ("minio", "postgres"):
        assert services[name]["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    # Only the one-shot step mounts the CA's key.
    assert [n for n, s in services.items() if any(str(v).startswith("ca:") for v in s.get("volumes", []))] \
        == ["certs"]


def test_the_certs_step_issues_what_each_server_reads(tmp_path: Path) -> None:
    """Run the step's own commands, with its volume paths moved under tmp_path."""
    certs = _compose()["services"]["certs"]
    script = certs["entrypoint"][-1].replace("$$PUBLIC_HOST", "recstore.example.eu")
    for volume in certs["volumes"]:
        _, target = volume.split(":")[:2]
        script = script.replace(f" {target} ", f" {tmp_path}{target} ").replace(
            f" {target}/", f" {tmp_path}{target}/")
    for line in filter(None, script.splitlines()):
        argv = shlex.split(line)
        if os.geteuid() != 0 and "--owner" in argv:  # chown needs root; the rest is the same
            i = argv.index("--owner")
            del argv[i:i + 2]
        done = subprocess.run([sys.executable, "-m", "recstore.cli", *argv[1:], "--json"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    ca = x509.load_pem_x509_certificate((tmp_path / "ca" / "ca.pem").read_bytes())
    expected = {"certs/minio/public.crt": "minio", "certs/postgres/server.crt": "postgres",
                "certs/recstore/api.pem": "recstore.example.eu"}
    for path, host in expected.items():
        cert = x509.load_pem_x509_certificate((tmp_path / path).read_bytes())
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert host in names.get_values_for_type(x509.DNSName)
    for key in ("certs/minio/private.key", "certs/postgres/server.key", "certs/recstore/api-key.pem"):
        assert (tmp_path / key).stat().st_mode & 0o077 == 0
    if os.geteuid() == 0:
        assert (tmp_path / "certs/postgres/server.key").stat().st_uid == 999
        assert (tmp_path / "certs/recstore/api-key.pem").stat().st_uid == 10001
    assert (tmp_path / "certs/minio/CAs/ca.pem").read_bytes() == (tmp_path / "ca/ca.pem").read_bytes()
    assert not list((tmp_path / "certs").rglob("ca-key.pem"))


def test_postgres_init_script_leaves_no_plain_tcp_login(tmp_path: Path) -> None:
    # The official image's pg_hba.conf after initdb (POSTGRES_HOST_AUTH_METHOD unset).
    (tmp_path / "pg_hba.conf").write_text(
        "local   all             all                                     trust\n"
        "host    all             all             127.0.0.1/32            trust\n"
        "host    all             all             ::1/128                 trust\n"
        "local   replication     all                                     trust\n"
        "host    replication     all             127.0.0.1/32            trust\n"
        "host all all all scram-sha-256\n")
    subprocess.run(["sh", str(ROOT / "deploy/postgres/20-require-tls.sh")], check=True,
                   env={**os.environ, "PGDATA": str(tmp_path)}, timeout=30)
    lines = [line.split() for line in (tmp_path / "pg_hba.conf").read_text().splitlines() if line]
    assert all(fields[0] in {"local", "hostssl"} or fields[-1] == "reject" for fields in lines)
    assert ["hostssl", "all", "all", "all", "scram-sha-256"] in lines
    assert lines[-2:] == [["host", "all", "all", "0.0.0.0/0", "reject"],
                          ["host", "all", "all", "::/0", "reject"]]
