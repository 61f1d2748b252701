"""The web pages as a deployable, checked without a Docker engine or a cluster: an image holding the design
system from the pinned npm package and nothing of its development packages, the services' Python pattern,
docker-compose.yml's `web` reaching the five services, and the Kubernetes Deployment and Service the
Ingress's web host reaches. The web has no Kafka, no store and no Secret, so the five services' checks
(test_images.py, test_manifests.py) do not fit it: these are its own."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
from pydantic import ValidationError

from .helpers import (
    OVERLAYS,
    ROOT,
    SERVICES,
    SETTINGS,
    UVICORN_VARIABLES,
    WEB,
    WEB_SETTINGS,
    base_image,
    by_name,
    compose,
    dockerfile,
    env_names,
    env_of,
    image_service,
    lock_closure,
    missing_tools,
    of_kind,
    pod_spec,
    render,
    service_dockerfile,
    stages,
)

WEB_DIR = ROOT / "services" / WEB
NPM_FILES = ("package.json", "package-lock.json", ".npmrc")
PORT: int = WEB_SETTINGS().http_port  # type: ignore[attr-defined]
URL_SETTINGS = {service: f"{service.upper()}_URL" for service in SERVICES}
"""The setting naming each service, as the pages reach it."""


def package_lock() -> dict[str, Any]:
    return dict(json.loads((WEB_DIR / "package-lock.json").read_text(encoding="utf-8")))


# ---------------------------------------------------------------- the image


def test_the_image_installs_the_design_system_from_the_lock_without_dev_packages() -> None:
    instructions = dockerfile(service_dockerfile(WEB))
    found = stages(instructions)
    assert list(found) == ["assets", "build", "runtime"]
    assets = found["assets"]
    assert base_image(instructions, assets) == "node:20-bookworm-slim"
    (copy,) = [i.arguments.split() for i in assets if i.keyword == "COPY"]
    assert copy[:-1] == [f"services/web/{name}" for name in NPM_FILES]
    runs = [i.arguments for i in assets if i.keyword == "RUN"]
    assert runs and all(re.match(r"npm ci\b", r) for r in runs), "npm ci: exactly the lock, never npm install"
    assert all("--omit=dev" in r and "--ignore-scripts" in r for r in runs)
    npmrc = (WEB_DIR / ".npmrc").read_text(encoding="utf-8").split()
    assert "ignore-scripts=true" in npmrc
    # The lock installs @gouvfr/dsfr alone once dev packages are left out; axe-core is one of those.
    lock = package_lock()
    manifest = json.loads((WEB_DIR / "package.json").read_text(encoding="utf-8"))
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"] == {"@gouvfr/dsfr": "1.15.3"}
    runtime_packages = {p for p, entry in lock["packages"].items() if p and not entry.get("dev")}
    assert runtime_packages == {"node_modules/@gouvfr/dsfr"}
    assert lock["packages"]["node_modules/axe-core"]["dev"] is True
    assert "axe-core" in manifest["devDependencies"] and "axe-core" not in manifest["dependencies"]
    # Only the design system's dist reaches the runtime image, where DSFR_DIR says.
    runtime = found["runtime"]
    from_assets = [
        i.arguments.split() for i in runtime if i.keyword == "COPY" and "--from=assets" in i.arguments
    ]
    env = env_of(runtime)
    assert from_assets == [["--from=assets", "/assets/node_modules/@gouvfr/dsfr/dist", env["DSFR_DIR"]]]
    assert "DSFR_DIR" in env_names(WEB_SETTINGS)
    text = service_dockerfile(WEB).read_text(encoding="utf-8")
    assert "axe-core" not in "\n".join(i.arguments for i in instructions)
    assert "COPY services/web/node_modules" not in text


def test_the_image_installs_the_pages_from_the_uv_lock_as_the_services_do() -> None:
    """The build stage is matching's with the names changed; the runtime runs `web serve` as uid 10001."""
    instructions = dockerfile(service_dockerfile(WEB))
    found = stages(instructions)
    own = {"tdu-matching": "tdu-web", "services/matching/src": "services/web/src"}
    pattern = []
    for ins in stages(dockerfile(service_dockerfile("matching")))["build"]:
        arguments = ins.arguments
        for theirs, ours in own.items():
            arguments = arguments.replace(theirs, ours)
        pattern.append((ins.keyword, arguments))
    assert [(i.keyword, i.arguments) for i in found["build"]] == pattern
    syncs = [i.arguments for i in found["build"] if i.keyword == "RUN" and "uv sync" in i.arguments]
    assert syncs and all(
        {"--frozen", "--no-dev", "--package tdu-web"} <= set(re.findall(r"--[\w-]+(?: tdu-\w+)?", s))
        for s in syncs
    )
    assert "tests" not in " ".join(i.arguments for i in instructions if i.keyword == "COPY")
    runtime = found["runtime"]
    script = tomllib.loads((WEB_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    (entry,) = [i.json() for i in runtime if i.keyword == "ENTRYPOINT"]
    assert entry == [WEB] and WEB in script
    (cmd,) = [i.json() for i in runtime if i.keyword == "CMD"]
    assert cmd == ["serve"]
    from web.cli import app

    assert "serve" in typer.main.get_command(app).commands  # type: ignore[attr-defined]
    (user,) = [i.arguments for i in runtime if i.keyword == "USER"]
    assert user == "10001:10001"
    (healthcheck,) = [i.arguments for i in runtime if i.keyword == "HEALTHCHECK"]
    assert "/ready" in healthcheck and "HTTP_PORT" in healthcheck
    env = env_of(runtime)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HTTP_PORT"] == str(PORT) == "8000" and env["HTTP_HOST"] == "0.0.0.0"
    assert {"HTTP_PORT", "HTTP_HOST", "DSFR_DIR"} <= env_names(WEB_SETTINGS)
    (expose,) = [i.arguments for i in runtime if i.keyword == "EXPOSE"]
    assert expose == str(PORT)


def test_the_image_carries_no_development_tooling_nor_numerical_libraries() -> None:
    closure = lock_closure("tdu-web")
    assert {"tdu-shared", "jinja2", "python-multipart", "uvicorn", "httpx"} <= closure
    assert not {"numpy", "scipy", "pytest", "mypy", "ruff", "hypothesis", "playwright", "tdu-dev"} & closure


# ---------------------------------------------------------------- docker-compose.yml


def test_compose_runs_the_pages_against_the_five_services() -> None:
    services = compose()["services"]
    web = services[WEB]
    assert web["build"]["dockerfile"] == "services/web/Dockerfile"
    assert web["command"] == ["serve"]
    assert web["ports"] == [f"{PORT}:{PORT}"]
    env: dict[str, Any] = web["environment"]
    assert set(env) <= env_names(WEB_SETTINGS), set(env) - env_names(WEB_SETTINGS)
    assert env["HTTP_PORT"] == str(PORT)
    assert not [name for name in env if name.startswith(("KAFKA_", "MONGODB_"))], "no Kafka, no store"
    for service, setting in URL_SETTINGS.items():
        port = services[service]["environment"]["HTTP_PORT"]
        assert env[setting] == f"http://{service}:{port}", setting
    assert web["depends_on"] == {s: {"condition": "service_healthy"} for s in SERVICES}
    assert "HTTP_PORT" in " ".join(web["healthcheck"]["test"]) and "/ready" in str(web["healthcheck"])
    assert web["read_only"] is True and web["tmpfs"] == ["/tmp"]
    settings = WEB_SETTINGS(**{name.lower(): value for name, value in env.items()})
    assert settings.environment == "development"  # type: ignore[attr-defined]
    # Links in e-mails open the pages where the host publishes them.
    assert services["notifications"]["environment"]["FRONTEND_BASE_URL"] == f"http://localhost:{PORT}"


# ---------------------------------------------------------------- Kubernetes


@pytest.fixture(scope="module")
def tools() -> None:
    problem = missing_tools()
    assert problem is None, problem


def web_container(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    deployment = by_name(docs, "Deployment")[WEB]
    (container,) = pod_spec(deployment)["containers"]
    return dict(container)


def common(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    return dict(by_name(docs, "ConfigMap")["traitdunion-common"]["data"])


def resolved_env(docs: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    """The container's variables with their values, those of ConfigMap keys looked up."""
    configmaps = by_name(docs, "ConfigMap")
    values = {}
    for env in container["env"]:
        if "value" in env:
            values[env["name"]] = env["value"]
        else:
            ref = env["valueFrom"]["configMapKeyRef"]
            values[env["name"]] = configmaps[ref["name"]]["data"][ref["key"]]
    return values


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_sets_web_settings_only_and_no_secret(overlay: str) -> None:
    docs = render(overlay)
    container = web_container(docs)
    assert image_service(container["image"]) == WEB and container["args"] == ["serve"]
    assert "envFrom" not in container, "the common ConfigMap's keys are Kafka's and the services'"
    names = {e["name"] for e in container["env"]}
    assert names - env_names(WEB_SETTINGS) <= UVICORN_VARIABLES, names - env_names(WEB_SETTINGS)
    assert not [e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})]
    assert not [n for n in names if n.startswith(("KAFKA_", "MONGODB_")) or n == "BASINS_FILE"]
    env = resolved_env(docs, container)
    assert env["ENVIRONMENT"] == common(docs)["ENVIRONMENT"] == "production"
    assert env["SECURE_COOKIES"] == "true"
    assert env["HTTP_PORT"] == str(PORT) and container["ports"][0]["containerPort"] == PORT
    assert env["TRUST_FORWARDED_FOR"] == "true" and env["FORWARDED_ALLOW_IPS"] == "*"
    assert {"/tmp"} == {m["mountPath"] for m in container["volumeMounts"]}


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pages_call_each_service_in_the_cluster(overlay: str) -> None:
    """Each *_URL is a Service of the layout on one of its ports, in front of that service's pods (the
    search: the matching-search replicas)."""
    docs = render(overlay)
    env = resolved_env(docs, web_container(docs))
    services = by_name(docs, "Service")
    deployments = of_kind(docs, "Deployment")
    for service, setting in URL_SETTINGS.items():
        url = urlsplit(env[setting])
        assert url.scheme == "http" and url.hostname in services, env[setting]
        target = services[url.hostname]
        assert url.port in {p["port"] for p in target["spec"]["ports"]}, env[setting]
        selector = target["spec"]["selector"].items()
        (behind,) = [
            d for d in deployments if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        container = pod_spec(behind)["containers"][0]
        assert image_service(container["image"]) == service, setting
        assert url.port == int(next(e["value"] for e in container["env"] if e["name"] == "HTTP_PORT"))
    assert urlsplit(env["MATCHING_URL"]).hostname == "matching-search"


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_web_host_reaches_the_pages(overlay: str) -> None:
    docs = render(overlay)
    service = by_name(docs, "Service")[WEB]
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] == "http"
    container = web_container(docs)
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named["http"] == PORT
    deployment = by_name(docs, "Deployment")[WEB]
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (ingress,) = of_kind(docs, "Ingress")
    web_hosts = [
        rule["host"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
        if path["backend"]["service"] == {"name": WEB, "port": {"number": 80}}
    ]
    assert len(web_hosts) == 1
    assert web_hosts[0] in {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    (budget,) = [p for p in of_kind(docs, "PodDisruptionBudget") if p["metadata"]["name"] == WEB]
    assert (
        budget["spec"]["selector"]["matchLabels"].items()
        <= deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    (hpa,) = [
        h for h in of_kind(docs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == WEB
    ]
    assert hpa["spec"]["minReplicas"] >= 2


@pytest.mark.usefixtures("tools")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_notifications_send_people_and_operators_to_the_web_host(overlay: str) -> None:
    """Links in e-mails (FRONTEND_BASE_URL) and ProConnect's way back (OIDC_REDIRECT_URI) name the
    Ingress's web host and a page the web serves."""
    docs = render(overlay)
    data = common(docs)
    assert {"FRONTEND_BASE_URL", "OIDC_REDIRECT_URI"} <= env_names(SETTINGS["notifications"])
    (ingress,) = of_kind(docs, "Ingress")
    (host,) = [
        r["host"]
        for r in ingress["spec"]["rules"]
        if r["http"]["paths"][0]["backend"]["service"]["name"] == WEB
    ]
    assert data["FRONTEND_BASE_URL"] == f"https://{host}"
    assert data["OIDC_REDIRECT_URI"] == f"{data['FRONTEND_BASE_URL']}/connexion/operateur/retour"
    from web.app import create_app

    pages = {
        (route.path, method)
        for route in create_app(WEB_SETTINGS()).routes
        for method in getattr(route, "methods", None) or ()
    }
    assert ("/connexion/operateur/retour", "GET") in pages
    notifications = pod_spec(by_name(docs, "Deployment")["notifications"])["containers"][0]
    assert "traitdunion-common" in {
        s["configMapRef"]["name"] for s in notifications["envFrom"] if "configMapRef" in s
    }


def test_the_pages_refuse_plain_http_cookies_in_production() -> None:
    """Why the Deployment sets SECURE_COOKIES=true."""
    with pytest.raises(ValidationError, match="SECURE_COOKIES"):
        WEB_SETTINGS(
            environment="production",
            secure_cookies=False,
        )


@pytest.mark.usefixtures("tools")
def test_the_pages_start_with_the_deployment_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names(WEB_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    docs = render(OVERLAYS[0])
    env = resolved_env(docs, web_container(docs))
    values: dict[str, Any] = {n.lower(): v for n, v in env.items() if n not in UVICORN_VARIABLES}
    settings = WEB_SETTINGS(_env_file=None, **values)  # production, without any secret: the pages hold none
    assert settings.environment == "production"  # type: ignore[attr-defined]
    assert settings.secure_cookies is True  # type: ignore[attr-defined]
