"""Audit a hash-pinned lock against PyPI's vulnerability data; exit 1 on any finding.

`make audit` runs pip-audit first. pip-audit asks PyPI's per-release JSON API
(/pypi/NAME/VERSION/json); an index or mirror that serves only project pages answers 404
there, and pip-audit can then only report every package as "not audited". This fallback
reads the project page (/pypi/NAME/json), whose "vulnerabilities" describe its latest
release, and so can vouch for a pin only when it is that latest release: any other pin, or
any package it cannot read, fails the audit rather than passing unchecked.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PYPI = "https://pypi.org/pypi"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def pins(lock: Path) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for line in lock.read_text().splitlines()
            if (m := PIN.match(line))]


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - fixed https host
            found: dict[str, Any] = json.load(response)
            return found
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def audit(name: str, version: str) -> tuple[list[str], str | None]:
    """(vulnerability ids, reason it could not be audited)."""
    release = _get(f"{PYPI}/{name}/{version}/json")
    if release is None:
        project = _get(f"{PYPI}/{name}/json")
        if project is None:
            return [], "not on the index"
        if project["info"]["version"] != version:
            return [], (f"{version} is not the latest release ({project['info']['version']}),"
                        " and this index has no per-release data: upgrade the pin")
        release = project
    return [v.get("id", "?") for v in release.get("vulnerabilities") or []
            if not v.get("withdrawn")], None


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements.lock")
    failed = 0
    pinned = pins(lock)
    for name, version in pinned:
        found, unaudited = audit(name, version)
        if found:
            print(f"{name}=={version}: known vulnerabilities {', '.join(found)}")
        elif unaudited:
            print(f"{name}=={version}: could not be audited: {unaudited}")
        failed += bool(found or unaudited)
    print(f"{len(pinned)} pinned packages in {lock}: {failed} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
