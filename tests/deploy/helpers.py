"""What the deployment tests read: the rendered overlays, the Dockerfiles, the compose file, the settings
classes, and the schemas `make install` puts in .cache/deploy-tools/."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from journeys.settings import Settings as JourneysSettings
from matching.settings import Settings as MatchingSettings
from notifications.settings import Settings as NotificationsSettings
from offers.settings import Settings as OffersSettings
from trainings.settings import Settings as TrainingsSettings
from web.settings import Settings as WebSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TOOLS = ROOT / ".cache" / "deploy-tools"
KUSTOMIZE = TOOLS / "bin" / "kustomize"
SCHEMAS = TOOLS / "schemas"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KUBERNETES_VERSION = "1.33"
"""Kubernetes version whose schemas the built-in objects are checked against."""

SETTINGS: dict[str, type[BaseSettings]] = {
    "offers": OffersSettings,
    "trainings": TrainingsSettings,
    "matching": MatchingSettings,
    "journeys": JourneysSettings,
    "notifications": NotificationsSettings,
}
SERVICES = tuple(SETTINGS)
"""The five services with Kafka and a database."""
WEB = "web"
"""The web pages: a sixth deployable, without Kafka, store or secret (checked on its own: test_web.py)."""
WEB_SETTINGS: type[BaseSettings] = WebSettings
DEPLOYABLES = (*SERVICES, WEB)
"""Everything that has an image under services/ and a Deployment."""
UVICORN_VARIABLES = frozenset({"FORWARDED_ALLOW_IPS"})
"""Read by uvicorn itself, not by the web settings: which proxies' X-Forwarded-For the pages trust
(uvicorn's proxy headers are on with TRUST_FORWARDED_FOR; by default they trust 127.0.0.1 only)."""

KAFKA_AUTH_VARIABLES = frozenset(
    {"KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}
)
"""Kafka client authentication (SCRAM-SHA-512) the manifests already pass; the services' settings do not
read them yet (deploy/README.md, "Kafka authentication")."""
DEPLOY_VARIABLES = frozenset({"DEPARTEMENTS", "LHEO_URL", "LHEO_SOURCE"})
"""Read by the CronJobs' commands, not by a service's settings."""

OPERATOR_SECRETS = {
    # Strimzi's user operator: one Secret per KafkaUser, named after it.
    **{name: {"password", "sasl.jaas.config"} for name in (*SERVICES, "partner")},
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (field name in upper case)."""
    return {name.upper() for name in settings.model_fields}


def missing_tools() -> str | None:
    for path in (KUSTOMIZE, SCHEMAS / "strimzi" / "Kafka.json", mongodb_crd_path()):
        if not path.exists():
            return f"{path} is missing: run `make install` (it installs the deployment checks' tools)"
    return None


def mongodb_crd_path() -> Path:
    return SCHEMAS / "mongodbcommunity.mongodb.com_mongodbcommunity.yaml"


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    return build(K8S / "overlays" / overlay)


def build(kustomization: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(kustomization)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"kustomize build {kustomization} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def by_name(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(docs, kind)}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return dict(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return dict(doc["spec"]["template"]["spec"])


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def workloads(docs: tuple[dict[str, Any], ...]) -> Iterator[dict[str, Any]]:
    return (d for d in docs if d["kind"] in WORKLOADS)


def service_dockerfile(service: str) -> Path:
    return ROOT / "services" / service / "Dockerfile"


def image_service(image: str) -> str:
    """traitdunion/offers:0.1.0 -> offers."""
    return image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def lock_closure(package: str) -> set[str]:
    """The packages uv.lock installs for a workspace member without its dev group."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    table = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        entry = table[name]
        todo += [d["name"] for d in entry.get("dependencies", [])]
        for extra in {e for d in entry.get("dependencies", []) for e in d.get("extra", [])}:
            todo += [d["name"] for d in table[name].get("optional-dependencies", {}).get(extra, [])]
    return seen


# ---------------------------------------------------------------- Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def json(self) -> list[str]:
        value = json.loads(self.arguments)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON) form: {self.arguments}"
        return [str(v) for v in value]


def dockerfile(path: Path) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped, continuation lines joined."""
    logical: list[str] = []
    current = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), rest.strip()))
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    return instructions[starts[-1] :]


def stages(instructions: list[Instruction]) -> dict[str, list[Instruction]]:
    """Each stage's instructions (its FROM first), by its name (``AS <name>``; the last one: ``runtime``
    when it has none)."""
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    found: dict[str, list[Instruction]] = {}
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(instructions)
        words = instructions[start].arguments.split()
        name = words[2] if len(words) == 3 and words[1].upper() == "AS" else "runtime"
        found[name] = instructions[start:end]
    return found


def base_image(instructions: list[Instruction], stage: list[Instruction]) -> str:
    """The image a stage starts from, with the build arguments' defaults (ARG before the first FROM)."""
    defaults = {}
    for ins in instructions:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.arguments:
            key, _, value = ins.arguments.partition("=")
            defaults[key] = value
    image = stage[0].arguments.split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], image)


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", ins.arguments):
                env[key] = value
    return env


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))
