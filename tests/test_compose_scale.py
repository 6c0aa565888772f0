"""docker-compose's `scale` profile, checked without Docker: interpolated as Compose does, the
default path stays one MinIO, one api, one worker; the profile's services find every name,
port, volume and certificate they need; PostgreSQL's connection budget holds."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import yaml

from recstore.services import open_services

ROOT = Path(__file__).resolve().parents[1]
PROFILE = "scale"
SUPERUSER_RESERVED = 3  # PostgreSQL's superuser_reserved_connections default
HEADROOM = 5            # an operator's psql, a backup, a migration run by hand
_VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (a required secret becomes "x")."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, word = match.groups()
        if env.get(name):
            return env[name]
        return "x" if op == "?" else (word or "")
    return _VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def _services(env: dict[str, str] | None = None) -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services: dict[str, Any] = _interpolate(compose["services"], env or {})
    return services


def _declared_volumes() -> set[str]:
    return set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"])


def _documented_env() -> dict[str, str]:
    """The variables of docs/SCALING.md's `docker compose --profile scale` command."""
    text = (ROOT / "docs/SCALING.md").read_text()
    block = next(b for b in re.findall(r"```\n(.*?)```", text, re.S) if "--profile scale" in b)
    return {name: value.strip("'") for name, value in
            re.findall(r"\b(RECSTORE_\w+)=('[^']*'|\S+)", block)}


def _default(services: dict[str, Any]) -> dict[str, Any]:
    return {n: s for n, s in services.items() if not s.get("profiles")}


def _aliases(service: dict[str, Any]) -> set[str]:
    return set(((service.get("networks") or {}).get("default") or {}).get("aliases") or [])


def _answers_as(services: dict[str, Any], name: str) -> set[str]:
    return {n for n, s in services.items() if n == name or name in _aliases(s)}


def _replicas(service: dict[str, Any]) -> int:
    return int((service.get("deploy") or {}).get("replicas", 1))


def _expand_braces(text: str) -> list[str]:
    """MinIO's `{1...4}` ellipsis notation."""
    match = re.search(r"\{(\d+)\.\.\.(\d+)\}", text)
    if not match:
        return [text]
    start, end = int(match[1]), int(match[2])
    return [text[:match.start()] + str(n) + text[match.end():] for n in range(start, end + 1)]


def _certs_hosts(services: dict[str, Any], name: str) -> set[str]:
    line = next(line for line in services["certs"]["entrypoint"][-1].splitlines()
                if f"--name {name} " in line)
    return set(re.findall(r"--host (\S+)", line))


def test_without_the_profile_it_is_one_minio_one_api_one_worker() -> None:
    services = _services()
    default = _default(services)
    assert {"minio", "api", "worker", "postgres", "setup"} <= set(default)
    assert not set(default) & {"lb", "minio2", "minio3", "minio4", "api-replica"}
    assert default["minio"]["command"][1] == "/data"
    assert _replicas(default["api"]) == 1 and _replicas(default["worker"]) == 1
    assert default["api"]["ports"] == ["8443:8443"]
    assert _answers_as(default, "api") == {"api"} and _answers_as(default, "minio") == {"minio"}
    for name, service in default.items():
        assert set(service.get("depends_on") or {}) <= set(default), name
    assert "max_connections=100" in default["postgres"]["command"]  # PostgreSQL's default


def test_every_service_of_the_profile_finds_what_it_needs() -> None:
    services = _services(_documented_env())
    profile = {n: s for n, s in services.items() if PROFILE in (s.get("profiles") or [])}
    assert set(profile) == {"lb", "minio2", "minio3", "minio4", "api-replica"}
    for name, service in profile.items():
        assert set(service.get("depends_on") or {}) <= set(services), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
            else:
                assert source in _declared_volumes(), (name, source)
    replica, api = services["api-replica"], services["api"]
    assert replica["environment"] == api["environment"] and replica["command"] == api["command"]
    assert replica["volumes"] == api["volumes"] and replica["healthcheck"] == api["healthcheck"]
    assert replica["ports"] == [] and "api" in _aliases(replica)
    for node in ("minio2", "minio3", "minio4"):
        assert services[node]["environment"] == services["minio"]["environment"], node
        assert "tls-minio:/certs:ro" in services[node]["volumes"]
        assert services[node]["command"][2:] == services["minio"]["command"][2:]


def test_minio_nodes_form_one_cluster_under_the_documented_command() -> None:
    services = _services(_documented_env())
    nodes = ["minio", "minio2", "minio3", "minio4"]
    volume_lists = {services[n]["command"][1] for n in nodes}
    assert len(volume_lists) == 1, volume_lists  # every node is started with the same list
    urls = _expand_braces(volume_lists.pop())
    hosts = [re.match(r"https://([^:/]+):9000/", url)[1] for url in urls]  # type: ignore[index]
    assert len(hosts) == 4  # EC:2 on four drives
    for host in hosts:
        assert len(_answers_as(services, host)) == 1, host  # one node per name
    assert {next(iter(_answers_as(services, h))) for h in hosts} == set(nodes)
    endpoint = services["api"]["environment"]["RECSTORE_S3_ENDPOINT"]
    assert _answers_as(services, re.match(r"https://([^:/]+)", endpoint)[1]) == set(nodes)  # type: ignore[index]
    assert {*hosts, "minio"} <= _certs_hosts(services, "minio")  # the nodes verify each other
    data = [next(v for v in services[n]["volumes"] if v.endswith(":/data")) for n in nodes]
    assert len(set(data)) == 4, data


def test_the_balancer_and_the_api_processes_agree_on_names_and_ports() -> None:
    services = _services(_documented_env())
    config = (ROOT / "deploy/haproxy/haproxy.cfg").read_text()
    bind = re.search(r"^\s*bind :(\d+)", config, re.M)
    template = re.search(r"^\s*server-template \S+ (\d+) ([\w-]+):(\d+)", config, re.M)
    assert bind and template
    assert services["lb"]["ports"] == [f"443:{bind[1]}"]
    slots, name, port = int(template[1]), template[2], template[3]
    assert _answers_as(services, name) == {"api", "api-replica"}
    assert services["api"]["environment"]["RECSTORE_PORT"] == port
    assert 1 + _replicas(services["api-replica"]) <= slots  # the balancer sees every one
    assert "api" in _certs_hosts(services, "api")  # the name the balancer checks by


def test_postgres_connection_budget_holds() -> None:
    pool = inspect.signature(open_services).parameters["pool_size"].default
    for env in ({}, _documented_env()):
        services = _services(env)
        enabled = services if env else _default(services)
        processes = sum(_replicas(s) for n, s in enabled.items() if n in (
            "api", "api-replica", "worker"))
        command = services["postgres"]["command"]
        limit = int(next(c for c in command if c.startswith("max_connections=")).split("=")[1])
        setup = 1  # `recstore migrate`: one connection, while nothing else runs yet
        assert processes * pool + setup + HEADROOM + SUPERUSER_RESERVED <= limit, (env, processes)
