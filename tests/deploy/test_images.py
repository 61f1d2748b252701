"""The images and docker-compose.yml, checked without a Docker engine: one Dockerfile pattern for every
service, installing from uv.lock only what the service needs; hadolint finds nothing; the compose file
agrees with the settings code (ports, variable names, databases) and the services' commands."""

from __future__ import annotations

import ast
import inspect
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tdu_dev.infra import platform

from .helpers import (
    DEPLOYABLES,
    ROOT,
    SERVICES,
    SETTINGS,
    compose,
    dockerfile,
    env_names,
    env_of,
    final_stage,
    lock_closure,
    service_dockerfile,
)

PORTS = {service: SETTINGS[service]().http_port for service in SERVICES}  # type: ignore[attr-defined]


def pattern_of(service: str) -> str:
    """The Dockerfile with the service's own name and port replaced by placeholders."""
    text = service_dockerfile(service).read_text(encoding="utf-8")
    for own in (
        f"The {service} service",
        f"tdu-{service}",
        f"services/{service}/src",
        f"services/{service}/Dockerfile",
        f'["{service}"]',
    ):
        text = text.replace(own, own.replace(service, "<service>"))
    return text.replace(f"HTTP_PORT={PORTS[service]}", "HTTP_PORT=<port>").replace(
        f"EXPOSE {PORTS[service]}", "EXPOSE <port>"
    )


def test_one_dockerfile_pattern_for_every_service() -> None:
    """Every service's Dockerfile is one pattern, only the service's name and port differ."""
    patterns = {service: pattern_of(service) for service in SERVICES}
    assert "<service>" in patterns["offers"] and "<port>" in patterns["offers"]
    for service in SERVICES:
        assert patterns[service] == patterns["offers"], service


@pytest.mark.parametrize("service", SERVICES)
def test_the_image_installs_the_service_from_the_lock_and_runs_its_cli(service: str) -> None:
    instructions = dockerfile(service_dockerfile(service))
    assert sum(1 for i in instructions if i.keyword == "FROM") == 2, "multi-stage: build, then runtime"
    syncs = [i.arguments for i in instructions if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert syncs and all(
        {"--frozen", "--no-dev", f"--package tdu-{service}"} <= set(re.findall(r"--[\w-]+(?: tdu-\w+)?", s))
        for s in syncs
    )
    pip = [
        i for i in instructions if i.keyword == "RUN" and re.search(r"pip install (?!.*uv==)", i.arguments)
    ]
    assert not pip, "only uv itself comes from pip"
    copied = " ".join(i.arguments for i in instructions if i.keyword == "COPY")
    assert "tests" not in copied
    runtime = final_stage(instructions)
    script = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    (entry,) = [i.json() for i in runtime if i.keyword == "ENTRYPOINT"]
    assert entry == [service] and service in script
    (cmd,) = [i.json() for i in runtime if i.keyword == "CMD"]
    assert cmd == ["serve"]
    module = __import__(f"{service}.cli", fromlist=["app"])
    assert "serve" in typer.main.get_command(module.app).commands  # type: ignore[attr-defined]
    (user,) = [i.arguments for i in runtime if i.keyword == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert [i for i in runtime if i.keyword == "HEALTHCHECK"]
    env = env_of(runtime)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HTTP_PORT"] == str(PORTS[service]) and env["HTTP_HOST"] == "0.0.0.0"
    assert {"HTTP_PORT", "HTTP_HOST"} <= env_names(SETTINGS[service])
    (expose,) = [i.arguments for i in runtime if i.keyword == "EXPOSE"]
    assert expose == str(PORTS[service])


def test_only_matching_carries_numpy_and_scipy() -> None:
    for service in SERVICES:
        closure = lock_closure(f"tdu-{service}")
        assert ({"numpy", "scipy"} <= closure) == (service == "matching"), service
        assert not {"pytest", "mypy", "ruff", "hypothesis", "tdu-dev"} & closure, service
    assert not {"tdu-dev", "pytest", "hypothesis"} & lock_closure("tdu-shared")


def test_no_runtime_module_uses_the_development_tooling() -> None:
    """Local servers, platform launcher and test fixtures live in tools/ (tdu-dev), in no image."""
    runtime = [ROOT / "shared" / "src", *(ROOT / "services" / s / "src" for s in DEPLOYABLES)]
    imports: dict[str, set[str]] = {}
    for folder in runtime:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                for name in names:
                    imports.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    assert imports["tdu_shared"]  # the walk does see imports
    for tooling in ("tdu_dev", "pytest", "hypothesis", "testcontainers"):
        assert tooling not in imports, imports.get(tooling)
    shared = ROOT / "shared" / "src" / "tdu_shared"
    assert not (shared / "devinfra").exists() and not (shared / "testing").exists()


OTHER_DOCKERFILES = (
    ROOT / "deploy" / "demo" / "Dockerfile",
    ROOT / "deploy" / "compose" / "kafka-setup.Dockerfile",
)
"""The demo loader's and docker-compose's one-shot kafka-setup's images."""
DOCKERFILES = (*(service_dockerfile(s) for s in DEPLOYABLES), *OTHER_DOCKERFILES)
"""Every image: the five services', the web pages' (test_web.py checks its own stages) and the others."""


def workspace_manifests() -> set[str]:
    """pyproject.toml of every member of the uv workspace (the root's [tool.uv.workspace])."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = {
        str(path.relative_to(ROOT))
        for pattern in root["tool"]["uv"]["workspace"]["members"]
        for path in ROOT.glob(f"{pattern}/pyproject.toml")
    }
    return {"pyproject.toml", *found}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_image_sees_the_whole_workspace(path: Path) -> None:
    """`uv sync --frozen` in the image reads the workspace from the root's members: each member's
    manifest is copied before it (the root depends on every member; a missing one fails `uv lock --check`)."""
    instructions = dockerfile(path)
    copied = {
        src
        for ins in instructions
        if ins.keyword == "COPY" and not ins.arguments.startswith("--from")
        for src in ins.arguments.split()[:-1]
        if src.endswith("pyproject.toml")
    }
    assert copied == workspace_manifests(), sorted(workspace_manifests() ^ copied)
    assert {"services/web/pyproject.toml", "tools/pyproject.toml"} <= copied
    first_sync = next(i for i, ins in enumerate(instructions) if "uv sync" in ins.arguments)
    manifests_at = [
        i for i, ins in enumerate(instructions) if ins.keyword == "COPY" and "pyproject.toml" in ins.arguments
    ]
    assert max(manifests_at) < first_sync, "every manifest is copied before the first uv sync"


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    files = [str(p) for p in DOCKERFILES]
    assert str(service_dockerfile("web")) in files
    result = subprocess.run([hadolint, *files], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = subprocess.run(
        [hadolint, "-"], input="FROM python:latest\nRUN pip install x\n", capture_output=True, text=True
    )
    assert broken.returncode != 0 and "DL3007" in broken.stdout  # the linter does check


def test_the_build_context_sends_sources_but_no_tests_or_cache() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "everything is excluded, then the sources are let in"
    allowed = [r[1:] for r in rules if r.startswith("!")]
    assert not [r for r in allowed if "test" in r or ".cache" in r or r in ("**", "services/")]
    # The web image installs the design system itself (npm ci): its manifests go in, never node_modules.
    assert not [r for r in allowed if "node_modules" in r]
    assert {r for r in allowed if r.startswith("services/web/")} == {
        f"services/web/{name}" for name in ("package.json", "package-lock.json", ".npmrc")
    }
    copied = {
        src
        for path in DOCKERFILES
        for ins in dockerfile(path)
        if ins.keyword == "COPY" and not ins.arguments.startswith("--from")
        for src in ins.arguments.split()[:-1]
    }
    for src in copied:
        assert (ROOT / src).exists(), src
        assert any(Path(src).match(a.rstrip("/")) or src.startswith(a) for a in allowed), src


# ---------------------------------------------------------------- docker-compose.yml


def test_compose_runs_each_service_as_its_settings_say() -> None:
    services = compose()["services"]
    for service in SERVICES:
        entry = services[service]
        where = f"compose service {service}"
        assert entry["build"]["dockerfile"] == f"services/{service}/Dockerfile", where
        assert entry["command"] == ["serve"], where
        env: dict[str, Any] = entry["environment"]
        assert set(env) <= env_names(SETTINGS[service]), f"{where}: {set(env) - env_names(SETTINGS[service])}"
        assert env["HTTP_PORT"] == str(PORTS[service]), where
        assert entry["ports"] == [f"{PORTS[service]}:{PORTS[service]}"], where
        assert env["MONGODB_DATABASE"] == SETTINGS[service]().mongodb_database  # type: ignore[attr-defined]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", where
        assert "replicaSet=rs0" in env["MONGODB_URL"], where
        for infra in ("kafka", "mongodb"):
            assert entry["depends_on"][infra] == {"condition": "service_healthy"}, where
        assert "HTTP_PORT" in " ".join(entry["healthcheck"]["test"]) and "/ready" in str(entry["healthcheck"])


def test_compose_mongodb_is_a_replica_set_initiated_by_its_healthcheck() -> None:
    services = compose()["services"]
    mongodb = services["mongodb"]
    assert mongodb["command"][:2] == ["--replSet", "rs0"]
    assert "rs.initiate" in " ".join(mongodb["healthcheck"]["test"])
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    assert services["kafka"]["healthcheck"]


def test_compose_notifications_talk_to_the_catchers() -> None:
    services = compose()["services"]
    env = services["notifications"]["environment"]
    assert env["SMTP_HOST"] == "mailpit" and env["SMS_API_BASE_URL"].startswith("http://sms-standin:")
    standin = services["sms-standin"]["command"]
    port = standin[standin.index("--port") + 1]
    assert env["SMS_API_BASE_URL"].endswith(f":{port}")
    from notifications.cli import app

    command = typer.main.get_command(app).commands[standin[0]]  # type: ignore[attr-defined]
    options = {opt for p in command.params for opt in p.opts}
    assert {a for a in standin if a.startswith("--")} <= options
    assert services["notifications"]["depends_on"]["sms-standin"] == {"condition": "service_healthy"}


def test_the_demo_loader_loads_what_make_run_loads_once_every_service_is_healthy() -> None:
    loader = compose()["services"]["demo-loader"]
    assert loader["build"]["dockerfile"] == "deploy/demo/Dockerfile"
    assert loader["restart"] == "no"
    assert loader["depends_on"] == {s: {"condition": "service_healthy"} for s in SERVICES}
    script = (ROOT / "deploy" / "demo" / "load.sh").read_text(encoding="utf-8")
    make_run = inspect.getsource(platform._import_demo)
    imports = re.findall(r'\("(trainings|offers)", \["import", str\(demo / "([\w.]+)"\)(.*?)\]\)', make_run)
    assert [service for service, _, _ in imports] == ["trainings", "offers"]
    for service, file, rest in imports:
        options = " ".join(re.findall(r'"(--[\w-]+|[\w-]+)"', rest))
        line = f'{service} import "$out/{file}"' + (f" {options}" if options else "")
        assert line in script, line
    assert "generate.py --out" in script
    assert script.index("trainings import") < script.index("offers import")
