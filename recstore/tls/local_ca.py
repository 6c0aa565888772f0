"""A private CA and its server certificates, made with `cryptography` (no openssl shell-outs).

`recstore up --tls` keeps them under ``<data dir>/tls/`` and docker-compose on a volume. Keys are
ECDSA P-256 (mode 0600). A leaf is re-issued on start when it is missing, names other hosts, is
signed by another CA or has less than `RENEW_BEFORE` left, so a long-lived dev stack never serves
an expired certificate; the CA lives ten years.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 397  # the longest validity browsers accept
RENEW_BEFORE = dt.timedelta(days=30)

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class LocalCA:
    cert_file: Path
    key_file: Path
    cert: x509.Certificate
    key: PrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca_cert(key: PrivateKey, common_name: str, *, not_before: dt.datetime | None = None,
                 not_after: dt.datetime | None = None) -> x509.Certificate:
    start = not_before or _now() - dt.timedelta(minutes=5)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(not_after or start + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def make_leaf_cert(ca_key: PrivateKey, ca_cert: x509.Certificate, key: PrivateKey,
                   hosts: list[str], *, not_before: dt.datetime | None = None,
                   not_after: dt.datetime | None = None, client: bool = False) -> x509.Certificate:
    """A server certificate for ``hosts`` (DNS names or IP addresses) signed by the CA; with
    ``client`` a client certificate whose common name is ``hosts[0]``."""
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    start = not_before or _now() - dt.timedelta(minutes=5)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(not_after or start + dt.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Atomically (a reader never sees half a key), created with ``mode`` from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def ensure_ca(directory: Path, common_name: str = "recstore local CA") -> LocalCA:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_file, key_file = directory / "ca.pem", directory / "ca-key.pem"
    if cert_file.exists() and key_file.exists():
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        fresh = cert.not_valid_after_utc - _now() > RENEW_BEFORE
        if isinstance(loaded, ec.EllipticCurvePrivateKey) and fresh:
            return LocalCA(cert_file, key_file, cert, loaded)
    key = new_key()
    cert = make_ca_cert(key, common_name)
    write_file(key_file, key_pem(key), 0o600)
    write_file(cert_file, cert_pem(cert), 0o644)
    return LocalCA(cert_file, key_file, cert, key)


def _leaf_is_current(cert_file: Path, ca: LocalCA, hosts: list[str], client: bool) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        cert.verify_directly_issued_by(ca.cert)
    except Exception:
        return False
    return (cert.not_valid_after_utc - _now() > RENEW_BEFORE
            and list(names) == [_san(h) for h in hosts]
            and (ExtendedKeyUsageOID.CLIENT_AUTH in usage) == client)


def ensure_leaf(ca: LocalCA, directory: Path, name: str, hosts: list[str],
                *, owner: tuple[int, int] | None = None, client: bool = False,
                file_names: tuple[str, str] | None = None) -> Issued:
    """``<name>.pem`` and ``<name>-key.pem`` (or ``file_names``) for ``hosts``, issued now
    unless still current.

    ``owner`` (uid, gid) hands the pair to the server that reads it (PostgreSQL refuses a key
    that is not its own or is readable by others)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_name, key_name = file_names or (f"{name}.pem", f"{name}-key.pem")
    issued = Issued(directory / cert_name, directory / key_name)
    if not (issued.key_file.exists() and _leaf_is_current(issued.cert_file, ca, hosts, client)):
        key = new_key()
        write_file(issued.key_file, key_pem(key), 0o600)
        cert = make_leaf_cert(ca.key, ca.cert, key, hosts, client=client)
        write_file(issued.cert_file, cert_pem(cert), 0o644)
    if owner is not None:
        for path in (issued.cert_file, issued.key_file):
            os.chown(path, *owner)
    return issued
