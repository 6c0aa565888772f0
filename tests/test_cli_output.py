"""What the CLI prints: readable lines and tables for people, one JSON object under --json
(errors included, with the same exit codes), every time in RFC 3339 with `T` and `Z`."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import subprocess
import sys
import tomllib
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from factories import make_tenant
from recstore.cli.main import main as cli_main
from recstore.cli.output import human, plain
from recstore.rights.erasure import request_erasure, run_erasure
from recstore.services import Services
from recstore.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
RECSTORE = [sys.executable, "-m", "recstore.cli"]
TIMELIKE = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
REPR = re.compile(r"datetime\.|UUID\(|\{'|\['|Decimal\(|<\w+ object")


def _times(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for v in value.values() for t in _times(v)]
    if isinstance(value, list):
        return [t for v in value for t in _times(v)]
    return [value] if isinstance(value, str) and TIMELIKE.search(value) else []


def test_plain_values_are_json_types_and_times_are_rfc3339_utc() -> None:
    stockholm = timezone(timedelta(hours=1))
    value = plain({"at": datetime(2026, 12, 1, 13, 5, tzinfo=stockholm), "id": uuid4(),
                   "nested": [{"until": datetime(2026, 12, 1, tzinfo=UTC)}], "raw": b"\x01"})
    assert value["at"] == "2026-12-01T12:05:00Z"
    assert value["nested"][0]["until"] == "2026-12-01T00:00:00Z"
    assert json.loads(json.dumps(value)) == value


def test_human_output_is_lines_and_tables_never_a_repr() -> None:
    text = human({"ok": False, "checked_at": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
                  "checks": {"database": {"ok": True}, "epochs": ["2026-11", "2026-12"]},
                  "jobs": [{"id": uuid4(), "status": "dead", "last_error": None}]})
    assert REPR.search(text) is None, text
    assert "checked_at: 2026-12-01T09:00:00Z" in text
    assert re.search(r"^  epochs: +2026-11, 2026-12$", text, re.M), text
    assert re.search(r"^\s+ID\s+STATUS\s+LAST_ERROR$", text, re.M), text


def _run_in_process(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"RECSTORE_{name.upper()}", str(raw))


@pytest.mark.parametrize("argv", [["customer", "erasure-status", "{customer}"],
                                  ["retention", "report"], ["jobs", "list"]])
async def test_commands_print_rfc3339_times_and_no_repr(
        services: Services, cli_env: None, argv: list[str]) -> None:
    tenant = await make_tenant(services)
    await request_erasure(services.pool, tenant.customer_id, tenant.admin_id)
    await run_erasure(services.pool, services.store, tenant.customer_id)
    argv = [a.format(customer=tenant.customer_id) for a in argv]

    code, out, err = await asyncio.to_thread(_run_in_process, [*argv, "--json"])
    assert code in (0, 1), err
    document = json.loads(out)
    assert all(RFC3339_UTC.match(t) for t in _times(document)), _times(document)
    if argv[0] == "customer":
        assert RFC3339_UTC.match(document["requested_at"])

    code_human, text, _ = await asyncio.to_thread(_run_in_process, argv)
    assert code_human == code
    assert REPR.search(text) is None, text
    assert "+00:00" not in text
    for match in re.finditer(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}\S*", text):
        assert RFC3339_UTC.match(match[0]), match[0]


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RECSTORE, *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False, env=env, stdin=subprocess.DEVNULL)


def test_version_is_the_package_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    done = _cli("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"recstore {version}")


@pytest.mark.parametrize(("argv", "code"), [
    (["customer", "create"], 2),  # a usage error, found by argparse
    (["customer", "erasure-status", "not-a-uuid", "--data-dir", "{tmp}"], 1),  # a domain error
    (["customer", "create", "--name", "N", "--email", "e@x.example", "--data-dir", "{tmp}"], 1),
])
def test_json_errors_are_one_json_object_on_stdout_with_the_same_exit_code(
        argv: list[str], code: int, tmp_path: Path) -> None:
    argv = [a.format(tmp=tmp_path) for a in argv]
    plain_run, json_run = _cli(*argv), _cli(*argv, "--json")
    assert plain_run.returncode == json_run.returncode == code
    assert plain_run.stdout == "" and plain_run.stderr.strip()
    assert "Traceback" not in plain_run.stderr + json_run.stderr
    [line] = json_run.stdout.splitlines()
    error = json.loads(line)
    assert list(error) == ["error"] and error["error"]
    assert error["error"] in json_run.stderr  # the same words a person reads


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    """Every command path of the parser; a provider of `set-provider` is an argument, not one."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups or prefix.endswith("set-provider"):
        return {prefix}
    return {path for group in groups for name, sub in group.choices.items()
            for path in _commands(sub, f"{prefix} {name}".strip())}


def test_every_command_is_in_the_readme_command_table() -> None:
    from recstore.cli.main import build_parser

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = _commands(build_parser())
    assert {"jobs list", "customer set-provider"} <= commands
    assert sorted(c for c in commands if f"`recstore {c}" not in table) == []


def test_up_on_a_data_dir_in_use_is_one_line_and_json_too(tmp_path: Path) -> None:
    import fcntl
    import os

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    fd = os.open(data_dir / ".embedded.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running `recstore up` holds it
        os.write(fd, b"4242\n")
        done = _cli("up", "--data-dir", str(data_dir), "--port", "1", "--json")
    finally:
        os.close(fd)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert json.loads(done.stdout) == {
        "error": f"another embedded stack (pid 4242) is running in {data_dir}"}
